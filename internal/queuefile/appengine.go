package queuefile

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/goccy/go-yaml/ast"
	"google.golang.org/protobuf/types/known/durationpb"
)

// queue.yaml's limits and defaults (App Engine's queue reference and
// gcloud's deployer, OPERATIONS_SPEC 1).
const (
	defaultBucket      = 5
	maxBucket          = 500
	defaultConcurrency = 1000
	maxConcurrency     = 5000
	maxRate            = 500.0
	defaultMinBackoff  = 0.1
	defaultMaxBackoff  = 3600.0
	defaultDoublings   = 16
	defaultQueueRate   = 5.0
)

// appEnginePaths are the fields queue.yaml controls: they are replaced on
// every start, everything else (http_target, logging) is left alone.
func appEnginePaths() []string {
	return []string{
		"rate_limits.max_dispatches_per_second",
		"rate_limits.max_concurrent_dispatches",
		"retry_config",
		"app_engine_routing_override",
	}
}

var (
	queueYAMLName = regexp.MustCompile(`^[A-Za-z0-9-]{1,100}$`)
	rateRe        = regexp.MustCompile(`^([0-9]+(?:\.[0-9]*)?)/([smhd])$`)
	ageRe         = regexp.MustCompile(`^([0-9]+(?:\.[0-9]*)?)([smhd])$`)
)

// unitSeconds is the length of a rate's or an age's unit: s, m, h or d
// (the regexps admit no other).
func unitSeconds(unit string) float64 {
	switch unit {
	case "m":
		return 60
	case "h":
		return 3600
	case "d":
		return 86400
	}
	return 1
}

// appEngine reads a queue.yaml whose root mapping is root and whose queue
// list is list.
func (p *fileParser) appEngine(root *ast.MappingNode, list ast.Node, parent string) ([]Decl, error) {
	for _, kv := range root.Values {
		switch k := kv.Key.GetToken().Value; k {
		case "queue", "total_storage_limit", "resume_paused_queues":
			// total_storage_limit has no v2 meaning (gcloud drops it);
			// resume_paused_queues is moot: Apply never resumes.
		default:
			return nil, p.errf(kv.Key, "unknown top-level key %q (want queue, total_storage_limit or resume_paused_queues)", k)
		}
	}
	seq, ok := list.(*ast.SequenceNode)
	if !ok {
		if _, null := list.(*ast.NullNode); null {
			seq = &ast.SequenceNode{}
		} else {
			return nil, p.errf(list, "queue: must be a list of queues")
		}
	}
	var decls []Decl
	seen := map[string]string{}
	for _, item := range seq.Values {
		d, err := p.appEngineQueue(unwrap(item), parent)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[d.Queue.Name]; dup {
			return nil, p.errf(item, "queue %q is already declared at %s", d.Queue.Name, prev)
		}
		seen[d.Queue.Name] = d.Source
		decls = append(decls, d)
	}
	// Every App Engine app has a push queue "default" (5/s, bucket 5);
	// the file may reconfigure it.
	def := parent + "/queues/default"
	if _, ok := seen[def]; !ok {
		d := appEngineDecl(def, defaultQueueRate, defaultBucket, defaultConcurrency)
		d.Source = p.file + " (implied queue default)"
		decls = append(decls, d)
	}
	return decls, nil
}

// appEngineDecl is a queue with queue.yaml's defaults.
func appEngineDecl(name string, rate float64, bucket, concurrency int32) Decl {
	return Decl{
		Queue: &cloudtaskspb.Queue{
			Name: name,
			RateLimits: &cloudtaskspb.RateLimits{
				MaxDispatchesPerSecond:  rate,
				MaxConcurrentDispatches: concurrency,
			},
			RetryConfig: &cloudtaskspb.RetryConfig{
				MaxAttempts:  -1,
				MinBackoff:   seconds(defaultMinBackoff),
				MaxBackoff:   seconds(defaultMaxBackoff),
				MaxDoublings: defaultDoublings,
			},
		},
		Paths: appEnginePaths(),
		Burst: bucket,
	}
}

func (p *fileParser) appEngineQueue(n ast.Node, parent string) (Decl, error) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		return Decl{}, p.errf(n, "each queue must be a mapping with at least a name")
	}
	nameNode := p.key(m, "name")
	if nameNode == nil {
		return Decl{}, p.errf(n, "queue without a name")
	}
	id := nameNode.GetToken().Value
	if !queueYAMLName.MatchString(id) {
		return Decl{}, p.errf(nameNode, "queue name %q: use 1 to 100 letters, digits and hyphens", id)
	}
	d := appEngineDecl(parent+"/queues/"+id, 0, defaultBucket, defaultConcurrency)
	d.Source = p.source(n)
	rl, rc := d.Queue.RateLimits, d.Queue.RetryConfig
	var rateSet bool
	for _, kv := range m.Values {
		v := unwrap(kv.Value)
		var err error
		switch k := kv.Key.GetToken().Value; k {
		case "name":
		case "mode":
			switch mode := v.GetToken().Value; mode {
			case "push":
			case "pull":
				err = p.errf(v, "queue %q is a pull queue: Cloud Tasks v2 has no pull queues", id)
			default:
				err = p.errf(v, "mode %q: want push or pull", mode)
			}
		case "rate":
			rl.MaxDispatchesPerSecond, err = p.rate(v)
			rateSet = true
		case "bucket_size":
			var b int64
			b, err = p.intIn(v, k, 0, maxBucket)
			d.Burst = int32(b)
		case "max_concurrent_requests":
			var c int64
			c, err = p.intIn(v, k, math.MinInt32, math.MaxInt32)
			// gcloud's deployer clamps rather than rejects.
			rl.MaxConcurrentDispatches = int32(min(max(c, 1), maxConcurrency))
		case "target":
			d.Queue.AppEngineRoutingOverride, err = p.target(v)
		case "retry_parameters":
			err = p.retry(v, rc)
		default:
			err = p.errf(kv.Key, "unknown queue key %q", k)
		}
		if err != nil {
			return Decl{}, err
		}
	}
	if !rateSet {
		return Decl{}, p.errf(n, "queue %q has no rate (a push queue needs one, e.g. rate: 5/s)", id)
	}
	if rl.MaxDispatchesPerSecond == 0 {
		// rate: 0 declares a paused queue; the rate keeps its default.
		d.State = cloudtaskspb.Queue_PAUSED
	}
	return d, nil
}

// rate reads N/s, N/m, N/h, N/d, or 0, as dispatches per second.
func (p *fileParser) rate(v ast.Node) (float64, error) {
	s := v.GetToken().Value
	if s == "0" {
		return 0, nil
	}
	m := rateRe.FindStringSubmatch(s)
	if m == nil {
		return 0, p.errf(v, "rate %q: want N/s, N/m, N/h or N/d (N a number), or 0", s)
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, p.errf(v, "rate %q: %v", s, err)
	}
	r := math.Round(n/unitSeconds(m[2])*1e9) / 1e9
	if r > maxRate {
		return 0, p.errf(v, "rate %q is above the 500/s Cloud Tasks allows", s)
	}
	return r, nil
}

func (p *fileParser) intIn(v ast.Node, key string, lo, hi int64) (int64, error) {
	s := v.GetToken().Value
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, p.errf(v, "%s %q: want a whole number", key, s)
	}
	if n < lo || n > hi {
		return 0, p.errf(v, "%s %d: want %d to %d", key, n, lo, hi)
	}
	return n, nil
}

func (p *fileParser) floatMin0(v ast.Node, key string) (float64, error) {
	s := v.GetToken().Value
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, p.errf(v, "%s %q: want a number", key, s)
	}
	if f < 0 {
		return 0, p.errf(v, "%s %v: cannot be negative", key, f)
	}
	return f, nil
}

// target reads "service" or "version.service".
func (p *fileParser) target(v ast.Node) (*cloudtaskspb.AppEngineRouting, error) {
	s := v.GetToken().Value
	parts := strings.Split(s, ".")
	for _, part := range parts {
		if part == "" {
			return nil, p.errf(v, "target %q: want SERVICE or VERSION.SERVICE", s)
		}
	}
	switch len(parts) {
	case 1:
		return &cloudtaskspb.AppEngineRouting{Service: parts[0]}, nil
	case 2:
		return &cloudtaskspb.AppEngineRouting{Version: parts[0], Service: parts[1]}, nil
	}
	return nil, p.errf(v, "target %q: want SERVICE or VERSION.SERVICE", s)
}

// retry reads retry_parameters into rc, which holds queue.yaml's defaults.
func (p *fileParser) retry(n ast.Node, rc *cloudtaskspb.RetryConfig) error {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		return p.errf(n, "retry_parameters must be a mapping")
	}
	var minSet, maxSet ast.Node
	for _, kv := range m.Values {
		v := unwrap(kv.Value)
		switch k := kv.Key.GetToken().Value; k {
		case "task_retry_limit":
			n, err := p.intIn(v, k, 0, math.MaxInt32-1)
			if err != nil {
				return err
			}
			// gcloud's deployer stores limit+1: the limit counts retries,
			// max_attempts counts attempts.
			rc.MaxAttempts = int32(n) + 1
		case "task_age_limit":
			s := v.GetToken().Value
			mm := ageRe.FindStringSubmatch(s)
			if mm == nil {
				return p.errf(v, "task_age_limit %q: want a number followed by s, m, h or d", s)
			}
			f, _ := strconv.ParseFloat(mm[1], 64)
			secs := int64(f * unitSeconds(mm[2]))
			if secs <= 0 {
				return p.errf(v, "task_age_limit %q must be at least one second", s)
			}
			rc.MaxRetryDuration = durationpb.New(time.Duration(secs) * time.Second)
		case "min_backoff_seconds":
			f, err := p.floatMin0(v, k)
			if err != nil {
				return err
			}
			rc.MinBackoff, minSet = seconds(f), v
		case "max_backoff_seconds":
			f, err := p.floatMin0(v, k)
			if err != nil {
				return err
			}
			rc.MaxBackoff, maxSet = seconds(f), v
		case "max_doublings":
			n, err := p.intIn(v, k, 0, math.MaxInt32)
			if err != nil {
				return err
			}
			rc.MaxDoublings = int32(n)
		default:
			return p.errf(kv.Key, "unknown retry_parameters key %q", k)
		}
	}
	lo, hi := rc.MinBackoff.AsDuration(), rc.MaxBackoff.AsDuration()
	switch {
	case lo <= hi:
	case minSet != nil && maxSet != nil:
		return p.errf(minSet, "min_backoff_seconds is above max_backoff_seconds")
	case minSet != nil:
		// Only one was given: the defaulted one follows it.
		rc.MaxBackoff = rc.MinBackoff
	default:
		rc.MinBackoff = rc.MaxBackoff
	}
	return nil
}

func seconds(f float64) *durationpb.Duration {
	return durationpb.New(time.Duration(math.Round(f * float64(time.Second))))
}
