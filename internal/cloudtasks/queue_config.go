package cloudtasks

import (
	"math"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Limits and defaults of spec sections 3.3 to 3.5.
const (
	maxRate            = 500.0
	maxConcurrent      = 5000
	defaultRate        = 500.0
	defaultConcurrent  = 1000
	defaultMaxAttempts = 100
	defaultMinBackoff  = 100 * time.Millisecond
	defaultMaxBackoff  = time.Hour
	defaultDoublings   = 16
	maxBurst           = 100
	maxHeaderBytes     = 80 * 1024
	maxURLLength       = 2083
)

// burstFor is the implementation-defined max_burst_size for a rate (spec
// 11.2): it honours the one documented data point, 500 -> 100.
func burstFor(rate float64) int32 {
	return int32(min(maxBurst, max(1, math.Ceil(rate))))
}

// normalizeQueue fills the server defaults into q's zero fields, derives
// the output-only fields and validates the result, in the order Cloud
// Tasks reports problems. q must already carry the final state.
func normalizeQueue(q *cloudtaskspb.Queue) error {
	if q.RateLimits == nil {
		q.RateLimits = &cloudtaskspb.RateLimits{}
	}
	rl := q.RateLimits
	if rl.MaxDispatchesPerSecond == 0 {
		rl.MaxDispatchesPerSecond = defaultRate
	}
	if rl.MaxConcurrentDispatches == 0 {
		rl.MaxConcurrentDispatches = defaultConcurrent
	}
	if q.RetryConfig == nil {
		q.RetryConfig = &cloudtaskspb.RetryConfig{}
	}
	rc := q.RetryConfig
	if rc.MaxAttempts == 0 {
		rc.MaxAttempts = defaultMaxAttempts
	}
	if rc.MaxDoublings == 0 {
		rc.MaxDoublings = defaultDoublings
	}
	if isZeroDuration(rc.MinBackoff) {
		rc.MinBackoff = durationpb.New(defaultMinBackoff)
	}
	if isZeroDuration(rc.MaxBackoff) {
		rc.MaxBackoff = durationpb.New(defaultMaxBackoff)
	}
	if isZeroDuration(rc.MaxRetryDuration) {
		rc.MaxRetryDuration = nil
	}

	switch r := rl.MaxDispatchesPerSecond; {
	case math.IsNaN(r):
		return invalid("RateLimits.maxDispatchesPerSecond must be a number.")
	case r < 0:
		return invalid("RateLimits.maxDispatchesPerSecond cannot be negative.")
	case r > maxRate:
		return invalid("RateLimits.maxDispatchesPerSecond must be less than or equal to 500.")
	}
	switch c := rl.MaxConcurrentDispatches; {
	case c < 0:
		return invalid("RateLimits.maxConcurrentDispatches cannot be negative.")
	case c > maxConcurrent:
		return invalid("RateLimits.maxConcurrentDispatches must be less than or equal to 5000.")
	}
	// max_burst_size is output only: whatever the caller sent is replaced.
	rl.MaxBurstSize = burstFor(rl.MaxDispatchesPerSecond)

	if err := validateRetryConfig(rc); err != nil {
		return err
	}
	if sc := q.StackdriverLoggingConfig; sc != nil {
		if r := sc.SamplingRatio; math.IsNaN(r) || r < 0 || r > 1 {
			return invalid("StackdriverLoggingConfig.samplingRatio must be between 0 and 1 inclusive.")
		}
	}
	if err := validateHTTPTarget(q.HttpTarget); err != nil {
		return err
	}
	if r := q.AppEngineRoutingOverride; r != nil {
		project, _ := queueParts(q.Name)
		r.Host = appEngineHost(project, r)
	}
	return nil
}

// validateRetryConfig checks a queue's (defaulted) or a task's (partial)
// retry settings.
func validateRetryConfig(rc *cloudtaskspb.RetryConfig) error {
	if rc.MaxAttempts < -1 {
		return invalid("RetryConfig.maxAttempts must be greater or equal to -1.")
	}
	if rc.MaxDoublings < 0 {
		return invalid("RetryConfig.maxDoublings cannot be negative.")
	}
	for _, d := range []struct {
		field string
		v     *durationpb.Duration
	}{
		{"minBackoff", rc.MinBackoff},
		{"maxBackoff", rc.MaxBackoff},
		{"maxRetryDuration", rc.MaxRetryDuration},
	} {
		if d.v == nil {
			continue
		}
		if d.v.CheckValid() != nil {
			return invalid("RetryConfig.%s is not a valid duration.", d.field)
		}
		if d.v.AsDuration() < 0 {
			return invalid("RetryConfig.%s cannot be negative.", d.field)
		}
	}
	if rc.MinBackoff != nil && rc.MaxBackoff != nil && rc.MinBackoff.AsDuration() > rc.MaxBackoff.AsDuration() {
		return invalid("RetryConfig.minBackoff must be less than or equal to RetryConfig.maxBackoff.")
	}
	return nil
}

// validateHTTPTarget checks the queue-level HTTP override (spec 3.7).
func validateHTTPTarget(ht *cloudtaskspb.HttpTarget) error {
	if ht == nil {
		return nil
	}
	if _, ok := cloudtaskspb.HttpMethod_name[int32(ht.HttpMethod)]; !ok {
		return invalid("HttpTarget.httpMethod is not a valid HTTP method.")
	}
	if u := ht.UriOverride; u != nil {
		if _, ok := cloudtaskspb.UriOverride_Scheme_name[int32(u.GetScheme())]; !ok {
			return invalid("UriOverride.scheme is not a valid scheme.")
		}
		if u.Host != nil && *u.Host == "" {
			return invalid("UriOverride.host cannot be empty.")
		}
		if u.Port != nil && (*u.Port < 0 || *u.Port > 65535) {
			return invalid("UriOverride.port must be between 1 and 65535.")
		}
		if _, ok := cloudtaskspb.UriOverride_UriOverrideEnforceMode_name[int32(u.UriOverrideEnforceMode)]; !ok {
			return invalid("UriOverride.uriOverrideEnforceMode is not a valid mode.")
		}
	}
	size := 0
	for _, h := range ht.HeaderOverrides {
		if h.GetHeader().GetKey() == "" {
			return invalid("HttpTarget.headerOverrides must each have a header key.")
		}
		size += len(h.Header.Key) + len(h.Header.Value)
	}
	if size >= maxHeaderBytes {
		return invalid("HttpTarget.headerOverrides must total less than 80KB.")
	}
	switch a := ht.AuthorizationHeader.(type) {
	case *cloudtaskspb.HttpTarget_OauthToken:
		if a.OauthToken.GetServiceAccountEmail() == "" || a.OauthToken.GetScope() == "" {
			return invalid("HttpTarget.oauthToken requires both serviceAccountEmail and scope.")
		}
	case *cloudtaskspb.HttpTarget_OidcToken:
		if a.OidcToken.GetServiceAccountEmail() == "" || a.OidcToken.GetAudience() == "" {
			return invalid("HttpTarget.oidcToken requires both serviceAccountEmail and audience.")
		}
	}
	return nil
}

// appEngineHost is the output-only host Cloud Tasks shows for App Engine
// routing: [instance.][version.][service.]PROJECT.appspot.com.
func appEngineHost(project string, r *cloudtaskspb.AppEngineRouting) string {
	host := project + ".appspot.com"
	for _, part := range []string{r.GetService(), r.GetVersion(), r.GetInstance()} {
		if part != "" {
			host = part + "." + host
		}
	}
	return host
}

func isZeroDuration(d *durationpb.Duration) bool {
	return d == nil || (d.Seconds == 0 && d.Nanos == 0)
}
