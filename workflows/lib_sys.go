package workflows

import (
	"crypto/rand"
	"fmt"
	"math"
	"time"
)

// timeLayout is RFC 3339 with microseconds, as Workflows prints times.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

var severities = map[string]bool{
	"DEFAULT": true, "DEBUG": true, "INFO": true, "NOTICE": true, "WARNING": true,
	"ERROR": true, "CRITICAL": true, "ALERT": true, "EMERGENCY": true,
}

func addSys() {
	register("sys.get_env", []string{"name", "default"}, 1, func(c *call) (any, error) {
		name, err := c.str(0)
		if err != nil {
			return nil, err
		}
		if c.optional(1) {
			if _, err := c.str(1); err != nil {
				return nil, err
			}
		}
		if v, ok := c.env.f.ex.env[name]; ok {
			return v, nil
		}
		return c.args[1], nil
	})
	register("sys.now", nil, 0, func(c *call) (any, error) {
		return float64(c.env.f.ex.cfg.Now().UnixNano()) / 1e9, nil
	})
	register("sys.sleep", []string{"seconds"}, 1, func(c *call) (any, error) {
		s, err := c.number(0)
		if err != nil {
			return nil, err
		}
		if s < 0 || math.IsNaN(s) || s > 365*24*3600 {
			return nil, valueErrorf("sys.sleep: seconds must be between 0 and one year")
		}
		return nil, c.env.f.ex.cfg.Sleep(c.ctx, time.Duration(s*float64(time.Second)))
	}).blocking = true
	register("sys.sleep_until", []string{"time"}, 1, func(c *call) (any, error) {
		s, err := c.str(0)
		if err != nil {
			return nil, err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, valueErrorf("sys.sleep_until: %v", err)
		}
		return nil, c.env.f.ex.cfg.Sleep(c.ctx, max(0, t.Sub(c.env.f.ex.cfg.Now())))
	}).blocking = true
	register("sys.log", []string{"data", "severity", "text", "json", "timeout"}, 0, sysLog).blocking = true
	register("time.format", []string{"seconds", "timezone"}, 1, func(c *call) (any, error) {
		s, err := c.number(0)
		if err != nil {
			return nil, err
		}
		loc := time.UTC
		if c.optional(1) {
			name, err := c.str(1)
			if err != nil {
				return nil, err
			}
			if loc, err = time.LoadLocation(name); err != nil {
				return nil, valueErrorf("time.format: unknown time zone %q", name)
			}
		}
		sec, frac := math.Modf(s)
		return time.Unix(int64(sec), int64(frac*1e9)).In(loc).Format(timeLayout), nil
	})
	register("time.parse", []string{"value"}, 1, func(c *call) (any, error) {
		s, err := c.str(0)
		if err != nil {
			return nil, err
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, valueErrorf("time.parse: %q is not an RFC 3339 time", s)
		}
		return float64(t.UnixNano()) / 1e9, nil
	})
	register("uuid.generate", nil, 0, func(*call) (any, error) { return newUUID(), nil })
	register("retry.always", []string{"e"}, 1, func(*call) (any, error) { return true, nil })
	register("retry.never", []string{"e"}, 1, func(*call) (any, error) { return false, nil })
	libraryConstants["retry.default_backoff"] = map[string]any{
		"initial_delay": int64(1), "max_delay": int64(60), "multiplier": 1.25,
	}
}

// sysLog writes one JSON line {severity, data|text|json} to the log writer.
func sysLog(c *call) (any, error) {
	entry := map[string]any{"severity": "DEFAULT"}
	if c.optional(1) {
		sev, err := c.str(1)
		if err != nil {
			return nil, err
		}
		if !severities[sev] {
			return nil, valueErrorf("sys.log: unknown severity %q", sev)
		}
		entry["severity"] = sev
	}
	for i, key := range []string{"data", "", "text", "json"} {
		if key != "" && c.optional(i) {
			entry[key] = c.args[i]
		}
	}
	line, err := EncodeJSON(entry)
	if err != nil {
		return nil, err
	}
	ex := c.env.f.ex
	if ex.cfg.Log != nil {
		ex.logMu.Lock()
		defer ex.logMu.Unlock()
		_, _ = ex.cfg.Log.Write(append(line, '\n')) // logging is best effort
	}
	return nil, nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
