package cli

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
)

// parseDuration reads gcloud's durations: a number of seconds ("10",
// "0.5"), or a number with a unit s, m, h or d ("10s", "1.5m", "2d"), or a
// Go duration ("1h30m").
func parseDuration(v string) (*durationpb.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return secondsDuration(v, f)
	}
	if n, ok := strings.CutSuffix(v, "d"); ok {
		if f, err := strconv.ParseFloat(n, 64); err == nil {
			return secondsDuration(v, f*86400)
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return nil, fmt.Errorf("%q is not a duration (e.g. 10s, 5m, 2h, 1d)", v)
	}
	return durationpb.New(d), nil
}

func secondsDuration(v string, f float64) (*durationpb.Duration, error) {
	if math.IsNaN(f) || f < 0 || f > 315576000000 {
		return nil, fmt.Errorf("%q is not a duration (e.g. 10s, 5m, 2h, 1d)", v)
	}
	return durationpb.New(time.Duration(math.Round(f * float64(time.Second)))), nil
}

// keyValues reads gcloud's dict flags: "service:s,version:v".
func keyValues(v string, allowed ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(part, ":")
		k = strings.TrimSpace(k)
		if !ok || !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("%q: want KEY:VALUE pairs separated by commas, KEY one of %s", part, strings.Join(allowed, ", "))
		}
		out[k] = strings.TrimSpace(val)
	}
	return out, nil
}

// header reads "Key: Value".
func header(v string) (string, string, error) {
	k, val, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(k) == "" {
		return "", "", fmt.Errorf("header %q: want \"KEY: VALUE\"", v)
	}
	return strings.TrimSpace(k), strings.TrimSpace(val), nil
}
