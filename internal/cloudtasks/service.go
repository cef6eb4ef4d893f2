package cloudtasks

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"
	// Embedded zone data: the schedule_time error renders US Pacific time
	// even on machines without a zoneinfo database.
	_ "time/tzdata"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"

	"github.com/opentasks/opentasks/internal/store"
)

// Dispatcher is what the API needs from the dispatcher (internal/dispatch).
type Dispatcher interface {
	// Changed tells the dispatcher that the queue itself changed (created,
	// updated, paused, resumed, purged, deleted).
	Changed(queue string)
	// Scheduled tells the dispatcher that a new task of queue is due at due.
	Scheduled(queue string, due time.Time)
	// Run dispatches the task now whatever the queue's state and limits (RunTask) and returns the task as it stands after dispatch, before the target answers.
	Run(ctx context.Context, t *store.Task, q *cloudtaskspb.Queue) (*store.Task, error)
}

// Config tunes a Service; zero fields take the defaults documented on each.
type Config struct {
	// Now is the clock; default time.Now.
	Now func() time.Time
	// TaskTombstone is how long a deleted or purged task's name stays
	// reserved; default 1h.
	TaskTombstone time.Duration
	// QueueTombstone is how long a deleted queue's name stays reserved;
	// default 7 days.
	QueueTombstone time.Duration
	// Locations are the location IDs the Locations service lists; default
	// DefaultLocations. Queues may live in any well-formed location.
	Locations []string
	// Dispatcher is told about changes and runs RunTask; nil disables
	// RunTask.
	Dispatcher Dispatcher
	// CheckTarget, if set, refuses an HTTP task's URL with the error it
	// returns (internal/targets.Policy.CheckURL).
	CheckTarget func(url string) error
}

// DefaultLocations is what ListLocations shows when Config.Locations is empty.
func DefaultLocations() []string {
	return []string{"us-central1", "us-east1", "europe-west1", "asia-northeast1"}
}

// Service implements the Cloud Tasks v2 API (cloudtaskspb.CloudTasksServer)
// and its Locations and Operations mixins on top of a store.Store.
type Service struct {
	st        store.Store
	now       func() time.Time
	taskTomb  time.Duration
	queueTomb time.Duration
	locations []string
	disp      Dispatcher
	// checkTarget is Config.CheckTarget.
	checkTarget func(url string) error
	// idSeq numbers generated task IDs (newTaskID).
	idSeq atomic.Uint32
	// pacific renders the schedule_time in the "too far in the future"
	// error, as Cloud Tasks does.
	pacific *time.Location
}

// New returns a Service storing its state in st.
func New(st store.Store, cfg Config) *Service {
	s := &Service{
		st:        st,
		now:       cfg.Now,
		taskTomb:  cfg.TaskTombstone,
		queueTomb: cfg.QueueTombstone,
		locations: append([]string(nil), cfg.Locations...),
		disp:      cfg.Dispatcher,

		checkTarget: cfg.CheckTarget,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.taskTomb <= 0 {
		s.taskTomb = time.Hour
	}
	if s.queueTomb <= 0 {
		s.queueTomb = 7 * 24 * time.Hour
	}
	if len(s.locations) == 0 {
		s.locations = DefaultLocations()
	}
	loc, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		// Unreachable with time/tzdata embedded; fall back to a fixed zone.
		loc = time.FixedZone("PST", -8*3600)
	}
	s.pacific = loc
	s.idSeq.Store(rand.Uint32())
	return s
}

var _ cloudtaskspb.CloudTasksServer = (*Service)(nil)

// changed tells the dispatcher, if any, that queue changed.
func (s *Service) changed(queue string) {
	if s.disp != nil {
		s.disp.Changed(queue)
	}
}

// scheduled tells the dispatcher, if any, about new tasks of queue; due is
// the earliest schedule_time among them.
func (s *Service) scheduled(queue string, due time.Time) {
	if s.disp != nil {
		s.disp.Scheduled(queue, due)
	}
}

// clock returns the current time at the store's microsecond precision.
func (s *Service) clock() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}
