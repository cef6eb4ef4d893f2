package deliver_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// wireRequest is a request as it crossed the wire. net/http canonicalises
// header names on the way in ("X-Cloudtasks-Tasketa"), so the exact casing
// Cloud Tasks sends can only be checked on the raw bytes.
type wireRequest struct {
	line    string      // "POST /path HTTP/1.1"
	headers [][2]string // in order, names as sent
	body    []byte
}

// get returns the values of the header named exactly name.
func (r wireRequest) get(name string) []string {
	var vs []string
	for _, h := range r.headers {
		if h[0] == name {
			vs = append(vs, h[1])
		}
	}
	return vs
}

// named returns the names, as sent, of headers whose name matches name in
// any case.
func (r wireRequest) named(name string) []string {
	var ns []string
	for _, h := range r.headers {
		if strings.EqualFold(h[0], name) {
			ns = append(ns, h[0])
		}
	}
	return ns
}

// wireTarget serves HTTP/1.1 on a loopback listener, answering every
// request with status and an empty body, and sends each request read on
// the returned channel. It returns the target's host:port.
func wireTarget(t *testing.T, status int) (string, <-chan wireRequest) {
	t.Helper()
	reqs := make(chan wireRequest, 16)
	s := newRawServer(t, func(_ *rawServer, c net.Conn) { serveWire(c, status, reqs) })
	return s.addr(), reqs
}

// rawServer serves each connection accepted on a loopback listener with
// serve, on a goroutine of its own. At cleanup it closes the listener and
// every connection accepted or kept, and waits for its goroutines (wg).
type rawServer struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func newRawServer(t *testing.T, serve func(s *rawServer, c net.Conn)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.keep(c)
			s.wg.Go(func() { serve(s, c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// keep has c closed at cleanup.
func (s *rawServer) keep(c net.Conn) {
	s.mu.Lock()
	s.conns = append(s.conns, c)
	s.mu.Unlock()
}

func (s *rawServer) addr() string { return s.ln.Addr().String() }

func serveWire(c net.Conn, status int, reqs chan<- wireRequest) {
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		r := wireRequest{line: strings.TrimRight(line, "\r\n")}
		length := 0
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			l = strings.TrimRight(l, "\r\n")
			if l == "" {
				break
			}
			name, value, _ := strings.Cut(l, ":")
			value = strings.TrimSpace(value)
			r.headers = append(r.headers, [2]string{name, value})
			if strings.EqualFold(name, "Content-Length") {
				length, _ = strconv.Atoi(value)
			}
		}
		r.body = make([]byte, length)
		if _, err := io.ReadFull(br, r.body); err != nil {
			return
		}
		reqs <- r
		if _, err := fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\n\r\n", status, http.StatusText(status)); err != nil {
			return
		}
	}
}
