package cloudtasks

import (
	"context"
	"net"
	"net/url"
	"strconv"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// BufferTask creates an HTTP task from a raw payload on a queue that has
// queue-level routing (spec 6.5): the queue's http_target supplies URL and
// method, body and contentType become the task's body and Content-Type.
// taskID may be empty for a generated one. It is REST-only; the transport
// calls it directly.
func (s *Service) BufferTask(ctx context.Context, queue, taskID string, body []byte, contentType string) (*cloudtaskspb.Task, error) {
	if err := checkQueue(queue); err != nil {
		return nil, err
	}
	if taskID != "" && !taskIDRe.MatchString(taskID) {
		return nil, errTaskID(taskID)
	}
	q, err := s.getQueue(ctx, queue)
	if err != nil {
		return nil, err
	}
	ht := q.GetHttpTarget()
	if ht.GetUriOverride().GetHost() == "" {
		return nil, status.Error(codes.FailedPrecondition, "BufferTask requires the queue to have queue-level routing (Queue.httpTarget with a uriOverride host).")
	}
	req := &cloudtaskspb.HttpRequest{
		Url:        OverrideURL(ht.GetUriOverride()),
		HttpMethod: ht.GetHttpMethod(),
	}
	switch req.HttpMethod {
	case cloudtaskspb.HttpMethod_HTTP_METHOD_UNSPECIFIED, cloudtaskspb.HttpMethod_POST, cloudtaskspb.HttpMethod_PUT, cloudtaskspb.HttpMethod_PATCH:
		req.Body = body
		if contentType != "" {
			req.Headers = map[string]string{"Content-Type": contentType}
		}
	}
	in := &cloudtaskspb.Task{MessageType: &cloudtaskspb.Task_HttpRequest{HttpRequest: req}}
	if taskID != "" {
		in.Name = queue + "/tasks/" + taskID
	}
	t, err := s.createTask(ctx, queue, in)
	if err != nil {
		return nil, err
	}
	s.scheduled(queue, t.Task.GetScheduleTime().AsTime())
	return inView(t.Task, cloudtaskspb.Task_BASIC), nil
}

// OverrideURL is the URL a queue's uri_override alone describes; the
// dispatcher applies the override again at delivery time anyway.
func OverrideURL(o *cloudtaskspb.UriOverride) string {
	u := url.URL{Scheme: "https", Host: o.GetHost(), Path: o.GetPathOverride().GetPath(), RawQuery: o.GetQueryOverride().GetQueryParams()}
	if o.GetScheme() == cloudtaskspb.UriOverride_HTTP {
		u.Scheme = "http"
	}
	if o.Port != nil && o.GetPort() > 0 {
		u.Host = net.JoinHostPort(o.GetHost(), strconv.FormatInt(o.GetPort(), 10))
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.String()
}
