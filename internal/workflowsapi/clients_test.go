package workflowsapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	executions "cloud.google.com/go/workflows/executions/apiv1"
	"cloud.google.com/go/workflows/executions/apiv1/executionspb"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// execAPI is the Executions API as the tests call it. The official Go
// client (cloud.google.com/go/workflows/executions/apiv1) speaks gRPC
// only, so REST is exercised by plain HTTP calls on the documented paths
// and JSON, as curl, gcloud's transport or a Cloud Tasks task send them.
// ListExecutions returns every page's executions, followed by tokens.
type execAPI interface {
	CreateExecution(ctx context.Context, req *executionspb.CreateExecutionRequest) (*executionspb.Execution, error)
	GetExecution(ctx context.Context, req *executionspb.GetExecutionRequest) (*executionspb.Execution, error)
	CancelExecution(ctx context.Context, req *executionspb.CancelExecutionRequest) (*executionspb.Execution, error)
	ListExecutions(ctx context.Context, req *executionspb.ListExecutionsRequest) (all []*executionspb.Execution, pages int, err error)
}

type grpcExecutions struct{ c *executions.Client }

func (g grpcExecutions) CreateExecution(ctx context.Context, req *executionspb.CreateExecutionRequest) (*executionspb.Execution, error) {
	return g.c.CreateExecution(ctx, req)
}

func (g grpcExecutions) GetExecution(ctx context.Context, req *executionspb.GetExecutionRequest) (*executionspb.Execution, error) {
	return g.c.GetExecution(ctx, req)
}

func (g grpcExecutions) CancelExecution(ctx context.Context, req *executionspb.CancelExecutionRequest) (*executionspb.Execution, error) {
	return g.c.CancelExecution(ctx, req)
}

func (g grpcExecutions) ListExecutions(ctx context.Context, req *executionspb.ListExecutionsRequest) ([]*executionspb.Execution, int, error) {
	it := g.c.ListExecutions(ctx, req)
	var all []*executionspb.Execution
	pages := map[string]bool{}
	for {
		e, err := it.Next()
		if err == iterator.Done {
			return all, len(pages), nil
		}
		if err != nil {
			return nil, 0, err
		}
		pages[fmt.Sprintf("%p", it.Response)] = true
		all = append(all, e)
	}
}

type restExecutions struct{ base string }

// call sends a REST request and decodes the answer into out, or the
// Google error body into a status error.
func (r restExecutions) call(ctx context.Context, method, path string, query url.Values, body proto.Message, out proto.Message) error {
	var rd io.Reader
	if body != nil {
		b, err := protojson.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := r.base + "/v1/" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Status  string `json:"status"`
			} `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			if resp.StatusCode == http.StatusNotFound {
				// Google's front end's HTML page for a path no route
				// matches, which Google's clients read as NOT_FOUND.
				return status.Error(codes.NotFound, string(b))
			}
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
		}
		code := codes.Unknown
		for c := codes.OK; c <= codes.Unauthenticated; c++ {
			if c.String() == codeName(e.Error.Status) {
				code = c
			}
		}
		return status.Error(code, e.Error.Message)
	}
	return protojson.Unmarshal(b, out)
}

// codeName turns "FAILED_PRECONDITION" into grpc-go's "FailedPrecondition".
func codeName(s string) string {
	out := []byte{}
	upper := true
	for _, c := range []byte(s) {
		switch {
		case c == '_':
			upper = true
		case upper:
			out = append(out, c)
			upper = false
		default:
			out = append(out, c-'A'+'a')
		}
	}
	if string(out) == "Ok" {
		return "OK"
	}
	return string(out)
}

func (r restExecutions) CreateExecution(ctx context.Context, req *executionspb.CreateExecutionRequest) (*executionspb.Execution, error) {
	out := &executionspb.Execution{}
	return out, r.call(ctx, http.MethodPost, req.GetParent()+"/executions", nil, req.GetExecution(), out)
}

func (r restExecutions) GetExecution(ctx context.Context, req *executionspb.GetExecutionRequest) (*executionspb.Execution, error) {
	q := url.Values{}
	if req.GetView() != 0 {
		q.Set("view", req.GetView().String())
	}
	out := &executionspb.Execution{}
	return out, r.call(ctx, http.MethodGet, req.GetName(), q, nil, out)
}

func (r restExecutions) CancelExecution(ctx context.Context, req *executionspb.CancelExecutionRequest) (*executionspb.Execution, error) {
	out := &executionspb.Execution{}
	return out, r.call(ctx, http.MethodPost, req.GetName()+":cancel", nil, &executionspb.CancelExecutionRequest{}, out)
}

func (r restExecutions) ListExecutions(ctx context.Context, req *executionspb.ListExecutionsRequest) ([]*executionspb.Execution, int, error) {
	q := url.Values{}
	if req.GetPageSize() > 0 {
		q.Set("pageSize", fmt.Sprint(req.GetPageSize()))
	}
	if req.GetView() != 0 {
		q.Set("view", req.GetView().String())
	}
	if req.GetFilter() != "" {
		q.Set("filter", req.GetFilter())
	}
	if req.GetOrderBy() != "" {
		q.Set("orderBy", req.GetOrderBy())
	}
	var all []*executionspb.Execution
	for pages := 1; ; pages++ {
		resp := &executionspb.ListExecutionsResponse{}
		if err := r.call(ctx, http.MethodGet, req.GetParent()+"/executions", q, nil, resp); err != nil {
			return nil, 0, err
		}
		all = append(all, resp.GetExecutions()...)
		if resp.GetNextPageToken() == "" {
			return all, pages, nil
		}
		q.Set("pageToken", resp.GetNextPageToken())
	}
}
