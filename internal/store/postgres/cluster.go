package postgres

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opentasks/opentasks/internal/store"
)

var _ store.Cluster = (*Store)(nil)

//go:embed sql/claim_queues.sql
var claimQueuesSQL string

// dbNow is the database clock in microseconds; leases are judged by it
// alone, so nodes' clocks may disagree.
const dbNow = `(extract(epoch FROM clock_timestamp()) * 1000000)::bigint`

// Notification kinds, the first field of a payload
// "kind \t node \t queue \t due-µs" on the store's channel.
const (
	noteDue     = 'w' // tasks of queue became due at due
	noteQueue   = 'q' // the queue itself changed
	noteMembers = 'm' // a node joined, left or released queues
	noteResync  = 'r' // local only: the listener (re)connected, wakes may have been missed
)

type note struct {
	kind  byte
	node  string
	queue string
	due   int64
}

func (n note) payload() string {
	return fmt.Sprintf("%c\t%s\t%s\t%d", n.kind, n.node, n.queue, n.due)
}

func parseNote(s string) (note, bool) {
	f := strings.Split(s, "\t")
	if len(f) != 4 || len(f[0]) != 1 {
		return note{}, false
	}
	due, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return note{}, false
	}
	return note{kind: f[0][0], node: f[1], queue: f[2], due: due}, true
}

// ownedQueues returns the queues this node owns (nil when not clustering).
func (s *Store) ownedQueues() map[string]bool {
	if p := s.owned.Load(); p != nil {
		return *p
	}
	return nil
}

// wakeOp returns the statement that announces a batch's changes to the
// other nodes, or nil. Due tasks of queues this node owns are left out:
// the local dispatcher hears of them in process.
func (s *Store) wakeOp(batch []*unit) *op {
	owned := s.ownedQueues()
	due := map[string]int64{}
	var payloads []string
	for _, u := range batch {
		for _, o := range u.ops {
			switch w := o.wake; {
			case w == nil:
			case w.kind == noteQueue:
				payloads = append(payloads, w.payload())
			case !owned[w.queue]:
				if cur, ok := due[w.queue]; !ok || w.due < cur {
					due[w.queue] = w.due
				}
			}
		}
	}
	for q, at := range due {
		payloads = append(payloads, note{kind: noteDue, node: s.nodeID, queue: q, due: at}.payload())
	}
	if len(payloads) == 0 {
		return nil
	}
	var n int64
	return &op{
		sql:  `SELECT count(pg_notify($1, p)) FROM unnest($2::text[]) AS p`,
		args: []any{s.channel, payloads},
		dest: []any{&n},
	}
}

// notify announces n inside tx: PostgreSQL delivers it at commit.
func (s *Store) notify(ctx context.Context, tx pgx.Tx, n note) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, s.channel, n.payload())
	return err
}

func (s *Store) queueChanged(name string) *note {
	return &note{kind: noteQueue, node: s.nodeID, queue: name}
}

// RunNode implements store.Cluster.
//
// Every renewal period (a quarter of the lease TTL) the node renews its
// heartbeat, reads the live nodes and the queues, assigns each queue to
// one live node by rendezvous hashing (every node computes the same
// assignment from the same rows), releases the queues it holds that are
// now assigned elsewhere, and claims or renews the queues assigned to it.
// A claim succeeds only over a lease that has run out, so a queue never
// has two owners in the database. The node's own view of its ownership
// lapses a quarter TTL before its lease can end in the database.
func (s *Store) RunNode(ctx context.Context, on func(store.ClusterEvent)) error {
	if !s.clustering.CompareAndSwap(false, true) {
		return errors.New("postgres: RunNode is already running")
	}
	defer s.clustering.Store(false)
	s.nodeMu.Lock()
	select {
	case <-s.stop:
		s.nodeMu.Unlock()
		return errClosed
	default:
	}
	s.node.Add(1) // Close waits for the node to leave
	s.nodeMu.Unlock()
	defer s.node.Done()
	notes := make(chan note, 4096)
	lctx, stopListening := context.WithCancel(ctx)
	listened := make(chan struct{})
	go func() {
		defer close(listened)
		s.listen(lctx, notes)
	}()
	n := &node{s: s, on: on, owned: map[string]bool{}}
	defer func() {
		stopListening()
		<-listened
		n.leave(context.WithoutCancel(ctx))
	}()

	renew := time.NewTicker(s.ttl / 4)
	defer renew.Stop()
	// lapseAt is when the node's ownership ends unless renewed; lapse
	// fires then. The first tick waits for the listener (its first
	// noteResync), so that no wake-up falls between the two.
	var lapseAt time.Time
	var lapse <-chan time.Time
	lapsed := func() {
		n.loseAll()
		lapseAt, lapse = time.Time{}, nil
	}
	for tickNow := false; ; {
		if tickNow {
			tctx, cancel := context.WithTimeout(ctx, s.ttl/4)
			if !lapseAt.IsZero() {
				tctx, cancel = context.WithDeadline(tctx, lapseAt)
			}
			deadline, err := n.tick(tctx)
			cancel()
			switch {
			case err == nil:
				lapseAt, lapse = deadline, time.After(time.Until(deadline))
			case ctx.Err() == nil:
				s.log.Warn("postgres: renewing queue ownership", "node", s.nodeID, "err", err)
				if !lapseAt.IsZero() && !time.Now().Before(lapseAt) {
					lapsed()
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.stop:
			return errClosed
		case <-renew.C:
			tickNow = true
		case <-lapse:
			lapsed()
			tickNow = true
		case nt := <-notes:
			tickNow = n.handle(nt)
		}
	}
}

// node is the state of one RunNode; only its goroutine touches it.
type node struct {
	s       *Store
	on      func(store.ClusterEvent)
	owned   map[string]bool
	started bool // the first tick has announced the node
}

// handle reports a notification to the dispatcher and whether ownership
// should be recomputed at once.
func (n *node) handle(nt note) bool {
	switch nt.kind {
	case noteResync:
		for q := range n.owned {
			n.on(store.ClusterEvent{Kind: store.QueueWake, Queue: q})
		}
		return true
	case noteMembers:
		return nt.node != n.s.nodeID
	case noteQueue, noteDue:
		if nt.node != n.s.nodeID && n.owned[nt.queue] {
			ev := store.ClusterEvent{Kind: store.QueueWake, Queue: nt.queue}
			if nt.kind == noteDue {
				ev.Due = fromMicros(nt.due)
			}
			n.on(ev)
		}
		// A queue created or deleted anywhere needs an owner or none.
		return nt.kind == noteQueue
	}
	return false
}

// tick renews the node's heartbeat and its queues and returns when its
// ownership lapses unless renewed again.
func (n *node) tick(ctx context.Context) (time.Time, error) {
	s := n.s
	start := time.Now()
	ttl := s.ttl.Microseconds()

	b := &pgx.Batch{}
	b.Queue(`INSERT INTO nodes (id, expires) VALUES ($1, `+dbNow+` + $2)
		ON CONFLICT (id) DO UPDATE SET expires = excluded.expires`, s.nodeID, ttl)
	// Gone nodes' rows are kept a while only to be dropped in one place.
	b.Queue(`DELETE FROM nodes WHERE expires < ` + dbNow + ` - 60000000`)
	b.Queue(`SELECT id FROM nodes WHERE expires > ` + dbNow + ` ORDER BY id`)
	b.Queue(`SELECT name FROM queues ORDER BY name`)
	var live, queues []string
	err := func() error {
		br := s.pool.SendBatch(ctx, b)
		defer br.Close()
		for range 2 {
			if _, err := br.Exec(); err != nil {
				return err
			}
		}
		var err error
		if live, err = collectStrings(br.Query()); err != nil {
			return err
		}
		if queues, err = collectStrings(br.Query()); err != nil {
			return err
		}
		return br.Close()
	}()
	if err != nil {
		return time.Time{}, fmt.Errorf("reading nodes and queues: %w", err)
	}

	mine := []string{} // not nil: NULL would match no row below
	for _, q := range queues {
		if assign(q, live) == s.nodeID {
			mine = append(mine, q)
		}
	}
	// Stop dispatching before the release below lets another node start.
	released := false
	for q := range n.owned {
		if _, ok := slices.BinarySearch(mine, q); !ok {
			n.lose(q)
			released = true
		}
	}

	b = &pgx.Batch{}
	// Expired leases are dropped too: claims below treat them as absent.
	b.Queue(`DELETE FROM queue_owners WHERE (node = $1 AND NOT (queue = ANY ($2))) OR expires < `+dbNow, s.nodeID, mine)
	b.Queue(claimQueuesSQL, s.nodeID, ttl, mine)
	if released || !n.started {
		b.Queue(`SELECT pg_notify($1, $2)`, s.channel, note{kind: noteMembers, node: s.nodeID}.payload())
	}
	var held []string
	err = func() error {
		br := s.pool.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		var err error
		if held, err = collectStrings(br.Query()); err != nil {
			return err
		}
		return br.Close()
	}()
	if err != nil {
		return time.Time{}, fmt.Errorf("claiming queues: %w", err)
	}
	n.started = true

	now := make(map[string]bool, len(held))
	for _, q := range held {
		now[q] = true
	}
	for q := range n.owned {
		if !now[q] { // taken over while this node failed to renew
			n.lose(q)
		}
	}
	for _, q := range held {
		if !n.owned[q] {
			n.owned[q] = true
			n.on(store.ClusterEvent{Kind: store.QueueAcquired, Queue: q})
		}
	}
	n.publish()
	return start.Add(s.ttl - s.ttl/4), nil
}

func (n *node) lose(q string) {
	delete(n.owned, q)
	n.on(store.ClusterEvent{Kind: store.QueueLost, Queue: q})
}

func (n *node) loseAll() {
	for q := range n.owned {
		n.lose(q)
	}
	n.publish()
}

// publish makes the owned set visible to the store's writer.
func (n *node) publish() {
	owned := make(map[string]bool, len(n.owned))
	for q := range n.owned {
		owned[q] = true
	}
	n.s.owned.Store(&owned)
}

// leave stops dispatching, then removes the node and its leases so that
// the other nodes take its queues without waiting for them to run out.
func (n *node) leave(ctx context.Context) {
	n.loseAll()
	n.s.owned.Store(nil)
	ctx, cancel := context.WithTimeout(ctx, n.s.ttl/4)
	defer cancel()
	err := pgx.BeginFunc(ctx, n.s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM queue_owners WHERE node = $1`, n.s.nodeID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM nodes WHERE id = $1`, n.s.nodeID); err != nil {
			return err
		}
		return n.s.notify(ctx, tx, note{kind: noteMembers, node: n.s.nodeID})
	})
	if err != nil {
		n.s.log.Warn("postgres: leaving the cluster; the node's queues move when its leases run out", "node", n.s.nodeID, "err", err)
	}
}

func collectStrings(rows pgx.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// assign returns the live node that owns queue: the one with the highest
// rendezvous hash, so that a node joining or leaving moves only its share.
func assign(queue string, live []string) string {
	var best string
	var bestScore uint64
	for _, n := range live {
		h := fnv.New64a()
		h.Write([]byte(n))
		h.Write([]byte{0})
		h.Write([]byte(queue))
		if sc := mix(h.Sum64()); best == "" || sc > bestScore {
			best, bestScore = n, sc
		}
	}
	return best
}

// mix is SplitMix64's finaliser: FNV alone spreads similar names poorly.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// listen forwards the store channel's notifications to notes until ctx
// ends, reconnecting after failures. Each (re)connection is reported as
// noteResync, since notifications sent meanwhile are lost.
func (s *Store) listen(ctx context.Context, notes chan<- note) {
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
		}
		err := s.listenOnce(ctx, notes)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("postgres: listening for wake-ups", "node", s.nodeID, "err", err)
		retry.Reset(time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context, notes chan<- note) error {
	conn, err := pgx.ConnectConfig(ctx, s.connCfg.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return err
	}
	s.deliver(ctx, notes, note{kind: noteResync})
	for {
		pn, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if nt, ok := parseNote(pn.Payload); ok {
			s.deliver(ctx, notes, nt)
		}
	}
}

// deliver hands nt over; when RunNode lags far behind, it waits rather than
// drop a wake-up, and PostgreSQL queues notifications meanwhile.
func (s *Store) deliver(ctx context.Context, notes chan<- note, nt note) {
	select {
	case notes <- nt:
	case <-ctx.Done():
	}
}
