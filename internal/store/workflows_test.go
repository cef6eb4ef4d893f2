package store

import (
	"testing"

	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
)

func TestAdmit(t *testing.T) {
	const (
		active = executionspb.Execution_ACTIVE
		queued = executionspb.Execution_QUEUED
	)
	cases := []struct {
		lim            ExecutionLimits
		nActive, nQueu int
		want           executionspb.Execution_State
		ok             bool
	}{
		{ExecutionLimits{}, 1000, 0, active, true},
		{ExecutionLimits{MaxActive: 2, MaxQueued: 2}, 1, 0, active, true},
		{ExecutionLimits{MaxActive: 2, MaxQueued: 2}, 2, 0, queued, true},
		// A backlog starts first: a new one queues behind it, room or not.
		{ExecutionLimits{MaxActive: 2, MaxQueued: 2}, 1, 1, queued, true},
		{ExecutionLimits{MaxActive: 2, MaxQueued: 2}, 2, 2, 0, false},
		{ExecutionLimits{MaxActive: 2}, 2, 0, 0, false}, // no backlog
	}
	for _, c := range cases {
		got, ok := c.lim.Admit(c.nActive, c.nQueu)
		if got != c.want || ok != c.ok {
			t.Errorf("%+v with %d active, %d queued: %v %v, want %v %v", c.lim, c.nActive, c.nQueu, got, ok, c.want, c.ok)
		}
	}
}
