package server

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// h2Preface opens every HTTP/2 connection made with prior knowledge, which
// is how gRPC clients talk to a plain-text port.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Serve serves h on ln until ctx ends, then stops gracefully, giving calls
// in flight up to grace. For a handler from New, connections that open
// with the HTTP/2 preface go to the gRPC server's own transport, which
// is about 2.5 times faster than gRPC through http.Handler; everything
// else (HTTP/1.1: REST, /healthz) goes to an http.Server. The handler
// still serves gRPC itself for callers that mount it elsewhere.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, grace time.Duration) error {
	hs := NewHTTPServer(h)
	sh, ok := h.(*handler)
	if !ok {
		return serveHTTPOnly(ctx, ln, hs, grace)
	}
	httpL, grpcL := newConnListener(ln.Addr()), newConnListener(ln.Addr())
	errc := make(chan error, 3)
	go func() { errc <- hs.Serve(httpL) }()
	go func() { errc <- sh.grpc.Serve(grpcL) }()
	go func() { errc <- split(ln, httpL, grpcL) }()

	var err error
	select {
	case err = <-errc: // a server failed: stop the rest
	case <-ctx.Done():
	}
	_ = ln.Close()
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	stopped := make(chan struct{})
	go func() { sh.grpc.GracefulStop(); close(stopped) }()
	shutErr := hs.Shutdown(sctx)
	select {
	case <-stopped:
	case <-sctx.Done():
		sh.grpc.Stop()
		<-stopped
	}
	httpL.Close()
	grpcL.Close()
	return errors.Join(err, shutErr)
}

func serveHTTPOnly(ctx context.Context, ln net.Listener, hs *http.Server, grace time.Duration) error {
	return serveUntil(ctx, hs, func() error { return hs.Serve(ln) }, grace)
}

// serveUntil runs serve until it fails or ctx ends, then shuts hs down.
func serveUntil(ctx context.Context, hs *http.Server, serve func() error, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return hs.Shutdown(sctx)
}

// split hands each accepted connection to grpcL or httpL by its first
// bytes, until ln is closed.
func split(ln net.Listener, httpL, grpcL *connListener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		go route(c, httpL, grpcL)
	}
}

// route reads only as far as needed to tell the HTTP/2 preface from
// anything else (an HTTP/1.1 request may be shorter than the preface).
func route(c net.Conn, httpL, grpcL *connListener) {
	_ = c.SetReadDeadline(time.Now().Add(readHeaderTimeout))
	buf := make([]byte, len(h2Preface))
	n := 0
	for n < len(buf) && bytes.Equal(buf[:n], []byte(h2Preface[:n])) {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			_ = c.Close()
			return
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	pc := &prefixConn{Conn: c, prefix: buf[:n]}
	if string(buf[:n]) == h2Preface {
		grpcL.push(pc)
		return
	}
	httpL.push(pc)
}

// prefixConn replays the bytes route read before handing the connection on.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// connListener is a net.Listener fed by split.
type connListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }
