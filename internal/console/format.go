package console

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// when is a point in time as the pages show it: absolute in UTC, and
// relative to the page's clock.
type when struct {
	Set           bool
	ISO, Abs, Rel string
}

func timeOf(t time.Time, now time.Time) when {
	if t.IsZero() {
		return when{}
	}
	t = t.UTC()
	w := when{Set: true, ISO: t.Format(time.RFC3339Nano), Abs: t.Format("2006-01-02 15:04:05 UTC")}
	d := t.Sub(now)
	switch {
	case d > -time.Second && d < time.Second:
		w.Rel = "now"
	case d > 0:
		w.Rel = "in " + age(d)
	default:
		w.Rel = age(-d) + " ago"
	}
	return w
}

func tsOf(ts *timestamppb.Timestamp, now time.Time) when {
	if ts == nil {
		return when{}
	}
	return timeOf(ts.AsTime(), now)
}

// age renders a duration in its two largest units: "45s", "3m 20s",
// "2h 5m", "3d 4h".
func age(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm %ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh %dm", s/3600, s%3600/60)
	default:
		return fmt.Sprintf("%dd %dh", s/86400, s%86400/3600)
	}
}

// dur renders a configured duration the way gcloud shows one ("10s",
// "3600s"), or "—" when unset.
func dur(d *durationpb.Duration) string {
	if d == nil {
		return "—"
	}
	return strconv.FormatFloat(d.AsDuration().Seconds(), 'f', -1, 64) + "s"
}

// count renders a number, as a lower bound when more may exist than were
// counted.
func count(n int64, atLeast bool) string {
	s := strconv.FormatInt(n, 10)
	if atLeast {
		return "≥ " + s
	}
	return s
}

// rate renders max_dispatches_per_second without float noise.
func rate(r float64) string {
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// Sparkline geometry, in SVG user units (the CSS sets the same size, so
// the cell never changes width when the data does).
const (
	sparkW = 120
	sparkH = 28
)

// sparkline draws counts (oldest first) as a small area chart, scaled to
// its own peak.
func sparkline(counts []int64) template.HTML {
	if len(counts) == 0 {
		return ""
	}
	var peak, total int64
	for _, v := range counts {
		peak = max(peak, v)
		total += v
	}
	step := float64(sparkW)
	if len(counts) > 1 {
		step = float64(sparkW) / float64(len(counts)-1)
	}
	var line strings.Builder
	for i, v := range counts {
		y := float64(sparkH - 2)
		if peak > 0 {
			y = 2 + float64(sparkH-4)*(1-float64(v)/float64(peak))
		}
		if i > 0 {
			line.WriteByte(' ')
		}
		fmt.Fprintf(&line, "%.1f,%.1f", float64(i)*step, y)
	}
	pts := line.String()
	label := fmt.Sprintf("%d deliveries in the last %d minutes, at most %d in 10 seconds", total, (len(counts)+5)/6, peak)
	// Every value is a number or fixed text: nothing to escape.
	return template.HTML(fmt.Sprintf(`<svg class="spark" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s"><title>%s</title>`+
		`<polygon class="spark-area" points="0,%d %s %d,%d"/><polyline class="spark-line" points="%s"/></svg>`,
		sparkW, sparkH, sparkW, sparkH, label, label, sparkH, pts, sparkW, sparkH, pts))
}
