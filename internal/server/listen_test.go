package server_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"

	"github.com/opentasks/opentasks/internal/server"
)

func TestServeSplitsGRPCFromHTTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- server.Serve(ctx, ln, server.New(&fakeAPI{}), 5*time.Second) }()
	addr := ln.Addr().String()

	// A request shorter than the HTTP/2 preface must not wait for more.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("GET /healthz HTTP/1.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz over HTTP/1.0: %v, %v", resp, err)
	}
	c.Close()

	cs := dialClients(t, "http://"+addr)
	for name, c := range cs {
		q, err := c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queueName})
		if err != nil || q.GetName() != queueName {
			t.Fatalf("%s GetQueue = %v, %v", name, q, err)
		}
	}
	_, err = cs["grpc"].GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: "projects/p/locations/l/queues/panic"})
	if !strings.Contains(err.Error(), "Internal error encountered.") {
		t.Fatalf("native gRPC panic: %v", err)
	}

	cancel()
	if err := recv(t, served, "return from Serve"); err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("still listening after shutdown")
	}
}
