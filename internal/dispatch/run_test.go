package dispatch_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/opentasks/opentasks/internal/oidc"
	"github.com/opentasks/opentasks/internal/store"
	"github.com/opentasks/opentasks/internal/store/storetest"
)

// TestRunTask checks spec 6 on a PAUSED queue with a task due in an hour:
// the returned task, the failure's schedule_time (call time + delay, not
// response time + delay), no second delivery at the old schedule_time,
// success deleting, and NOT_FOUND afterwards.
func TestRunTask(t *testing.T) {
	answer := make(chan int)
	arrived := make(chan string, 10)
	h := newHarness(t, storetest.NewClock(t0), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.URL.Path
		w.WriteHeader(<-answer)
	}))
	q := h.queue("run", func(q *cloudtaskspb.Queue) {
		q.State = cloudtaskspb.Queue_PAUSED
		q.RetryConfig.MinBackoff = durationpb.New(10 * time.Second)
	})
	old := t0.Add(time.Hour)
	h.task(q, "t", old, nil)
	call := h.now()
	got, err := h.d.Run(context.Background(), h.get(q, "t"), q)
	if err != nil {
		t.Fatal(err)
	}
	la := got.Task.GetLastAttempt()
	if got.Task.DispatchCount != 1 || got.Task.ResponseCount != 0 || !la.GetScheduleTime().AsTime().Equal(old) ||
		!la.GetDispatchTime().AsTime().Equal(call) || la.ResponseTime != nil || la.ResponseStatus != nil ||
		!got.Task.GetFirstAttempt().GetDispatchTime().AsTime().Equal(call) {
		t.Fatalf("RunTask returned %v; want dispatch_count 1, last_attempt {schedule %v, dispatch %v}, no response", got.Task, old, call)
	}
	recv(t, arrived)
	h.clock.Advance(5 * time.Second) // the target answers 5s later
	answer <- 500
	o := h.outcome()
	if want := call.Add(10 * time.Second); !o.Task.ScheduleTime.AsTime().Equal(want) {
		t.Fatalf("after failed RunTask schedule_time %v, want call time + 10s = %v", o.Task.ScheduleTime.AsTime(), want)
	}
	// Run again (still paused): succeeds, and the task is gone.
	if _, err := h.d.Run(context.Background(), h.get(q, "t"), q); err != nil {
		t.Fatal(err)
	}
	recv(t, arrived)
	answer <- 200
	if o := h.outcome(); !o.Deleted {
		t.Fatalf("successful RunTask: %+v, want deleted", o)
	}
	if _, err := h.d.Run(context.Background(), &store.Task{Queue: q.Name, ID: "t", Task: o.Task}, q); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RunTask on a finished task: %v, want store.ErrNotFound", err)
	}
}

// TestRunTaskNoSecondDelivery: a task RunTask delivered is not delivered
// again at its old schedule_time. One slot keeps deliveries in due order,
// so a sentinel due just after the old time proves it.
func TestRunTaskNoSecondDelivery(t *testing.T) {
	arrived := make(chan string, 10)
	h := newHarness(t, storetest.NewClock(t0), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r.URL.Path
		w.WriteHeader(500)
	}))
	q := h.queue("once", func(q *cloudtaskspb.Queue) {
		q.RateLimits.MaxConcurrentDispatches = 1
		q.RetryConfig.MinBackoff = durationpb.New(time.Hour)
	})
	old := t0.Add(time.Minute)
	h.task(q, "t", old, nil)
	h.task(q, "sentinel", old.Add(time.Microsecond), nil)
	if _, err := h.d.Run(context.Background(), h.get(q, "t"), q); err != nil {
		t.Fatal(err)
	}
	if p := recv(t, arrived); p != "/t" {
		t.Fatalf("RunTask delivered %s", p)
	}
	h.outcome()
	h.clock.Advance(2 * time.Minute)
	h.d.Changed(q.Name)
	if p := recv(t, arrived); p != "/sentinel" {
		t.Fatalf("at the old schedule_time %s was delivered, want only /sentinel", p)
	}
}

// TestRunTaskWhileRunning: RunTask dispatches a task whose scheduled
// attempt is still in flight.
func TestRunTaskWhileRunning(t *testing.T) {
	arrived := make(chan struct{}, 10)
	release := make(chan struct{})
	h := newHarness(t, storetest.NewClock(t0), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	q := h.queue("busy", nil)
	h.task(q, "t", t0, nil)
	recv(t, arrived)
	got, err := h.d.Run(context.Background(), h.get(q, "t"), q)
	if err != nil || got.Task.DispatchCount != 2 {
		t.Fatalf("RunTask during an attempt = %v, %v; want dispatch_count 2", got, err)
	}
	recv(t, arrived)
	close(release)
	h.outcome()
	h.outcome()
}

// TestOIDCToken verifies the token a target receives against the
// server's own JWKS.
func TestOIDCToken(t *testing.T) {
	auth := make(chan string, 1)
	h := newHarness(t, storetest.NewClock(t0), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth <- r.Header.Get("Authorization")
	}))
	signer, err := oidc.NewSigner(context.Background(), h.st, "http://opentasks.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	src, err := oidc.ParseOAuthSource("")
	if err != nil {
		t.Fatal(err)
	}
	h.d.Stop()
	h.tokens = oidc.Tokens{Signer: signer, OAuth: src}
	h.start()
	q := h.queue("oidc", nil)
	tk := h.task(q, "t", t0, func(tk *cloudtaskspb.Task) {
		tk.GetHttpRequest().AuthorizationHeader = &cloudtaskspb.HttpRequest_OidcToken{OidcToken: &cloudtaskspb.OidcToken{ServiceAccountEmail: "sa@p.iam.gserviceaccount.com"}}
	})
	header := recv(t, auth)
	raw, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		t.Fatalf("Authorization = %q", header)
	}
	// Fetch the JWKS the way a target would.
	srv := httptestServer(t, signer.JWKS())
	resp, err := http.Get(srv + oidc.JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := decodeJSON(resp.Body, &set); err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		jwt.Claims
		Email string `json:"email"`
	}
	if err := tok.Claims(set, &c); err != nil {
		t.Fatalf("token does not verify against the JWKS: %v", err)
	}
	url := tk.Task.GetHttpRequest().GetUrl()
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: "http://opentasks.test", AnyAudience: jwt.Audience{url}, Time: time.Now()}, 0); err != nil {
		t.Fatalf("claims %+v: %v", c, err)
	}
	if c.Email != "sa@p.iam.gserviceaccount.com" {
		t.Fatalf("email claim %q", c.Email)
	}
	h.outcome()
}
