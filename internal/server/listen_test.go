package server_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	cloudtasks "cloud.google.com/go/cloudtasks/apiv2"
	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

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

	g, err := cloudtasks.NewClient(ctx, option.WithEndpoint(addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	r, err := cloudtasks.NewRESTClient(ctx, option.WithEndpoint("http://"+addr), option.WithoutAuthentication())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for name, c := range map[string]*cloudtasks.Client{"grpc": g, "rest": r} {
		q, err := c.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: queueName})
		if err != nil || q.GetName() != queueName {
			t.Fatalf("%s GetQueue = %v, %v", name, q, err)
		}
	}
	_, err = g.GetQueue(ctx, &cloudtaskspb.GetQueueRequest{Name: "projects/p/locations/l/queues/panic"})
	if !strings.Contains(err.Error(), "Internal error encountered.") {
		t.Fatalf("native gRPC panic: %v", err)
	}

	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("still listening after shutdown")
	}
}
