package cloudtasks

import (
	"context"
	"errors"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/opentasks/opentasks/internal/apierr"
	"github.com/opentasks/opentasks/internal/pagetoken"
	"github.com/opentasks/opentasks/internal/store"
)

// ListTasks lists a queue's tasks in ID order.
func (s *Service) ListTasks(ctx context.Context, req *cloudtaskspb.ListTasksRequest) (*cloudtaskspb.ListTasksResponse, error) {
	parent := req.GetParent()
	if err := checkQueue(parent); err != nil {
		return nil, err
	}
	view, err := viewOf(req.GetResponseView())
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize(), maxTaskPage)
	if err != nil {
		return nil, err
	}
	now := s.now()
	scope := pagetoken.Scope("ListTasks", parent, "")
	after, err := pagetoken.Decode(req.GetPageToken(), scope, now)
	if err != nil {
		return nil, err
	}
	if _, err := s.getQueue(ctx, parent); err != nil {
		return nil, err
	}
	tasks, err := s.st.ListTasks(ctx, parent, after, size+1)
	if err != nil {
		return nil, apierr.Internal("listing tasks", err)
	}
	resp := &cloudtaskspb.ListTasksResponse{}
	if len(tasks) > size {
		tasks = tasks[:size]
		resp.NextPageToken = pagetoken.Encode(scope, tasks[size-1].ID, now)
	}
	for _, t := range tasks {
		resp.Tasks = append(resp.Tasks, withView(t.Task, view))
	}
	return resp, nil
}

// GetTask returns one task.
func (s *Service) GetTask(ctx context.Context, req *cloudtaskspb.GetTaskRequest) (*cloudtaskspb.Task, error) {
	queue, id, err := parseRoutedTaskName(req.GetName())
	if err != nil {
		return nil, err
	}
	view, err := viewOf(req.GetResponseView())
	if err != nil {
		return nil, err
	}
	t, err := s.st.GetTask(ctx, queue, id)
	switch {
	case errors.Is(err, store.ErrTombstoned):
		return nil, status.Error(codes.NotFound, msgTaskTombstoned)
	case errors.Is(err, store.ErrNotFound):
		return nil, errNotFound()
	case err != nil:
		return nil, apierr.Internal("getting task", err)
	}
	return withView(t.Task, view), nil
}

// CreateTask validates and stores a task.
func (s *Service) CreateTask(ctx context.Context, req *cloudtaskspb.CreateTaskRequest) (*cloudtaskspb.Task, error) {
	parent := req.GetParent()
	if err := checkQueue(parent); err != nil {
		return nil, err
	}
	view, err := viewOf(req.GetResponseView())
	if err != nil {
		return nil, err
	}
	t, err := s.createTask(ctx, parent, req.GetTask())
	if err != nil {
		return nil, err
	}
	s.scheduled(parent, t.Task.GetScheduleTime().AsTime())
	return inView(t.Task, view), nil
}

// createTask builds and stores one task; the caller tells the dispatcher.
func (s *Service) createTask(ctx context.Context, parent string, in *cloudtaskspb.Task) (*store.Task, error) {
	t, err := s.newTask(parent, in, s.clock())
	if err != nil {
		return nil, err
	}
	// A generated ID that collides is drawn again; a given one is a duplicate.
	for attempt := 0; ; attempt++ {
		err = s.st.CreateTask(ctx, t)
		if !errors.Is(err, store.ErrAlreadyExists) || in.GetName() != "" || attempt == 2 {
			break
		}
		t.ID = s.newTaskID()
		t.Task.Name = parent + "/tasks/" + t.ID
	}
	switch {
	case errors.Is(err, store.ErrQueueNotFound), errors.Is(err, store.ErrNotFound):
		return nil, errQueueNotFound()
	case errors.Is(err, store.ErrAlreadyExists), errors.Is(err, store.ErrTombstoned):
		return nil, status.Error(codes.AlreadyExists, msgTaskExists)
	case err != nil:
		return nil, apierr.Internal("creating task", err)
	}
	return t, nil
}

// DeleteTask deletes a task and tombstones its name.
func (s *Service) DeleteTask(ctx context.Context, req *cloudtaskspb.DeleteTaskRequest) (*emptypb.Empty, error) {
	queue, id, err := parseRoutedTaskName(req.GetName())
	if err != nil {
		return nil, err
	}
	// The dispatcher needs no word: a deleted task cannot be leased.
	if err := s.deleteTask(ctx, queue, id); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

func (s *Service) deleteTask(ctx context.Context, queue, id string) error {
	switch err := s.st.DeleteTask(ctx, queue, id, s.now().Add(s.taskTomb)); {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrTombstoned):
		return errNotFound()
	case err != nil:
		return apierr.Internal("deleting task", err)
	}
	return nil
}

// RunTask dispatches a task now, whatever its queue's state and limits.
func (s *Service) RunTask(ctx context.Context, req *cloudtaskspb.RunTaskRequest) (*cloudtaskspb.Task, error) {
	queue, id, err := parseRoutedTaskName(req.GetName())
	if err != nil {
		return nil, err
	}
	view, err := viewOf(req.GetResponseView())
	if err != nil {
		return nil, err
	}
	t, err := s.st.GetTask(ctx, queue, id)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrTombstoned):
		return nil, errNotFound()
	case err != nil:
		return nil, apierr.Internal("getting task", err)
	}
	q, err := s.getQueue(ctx, queue)
	if err != nil {
		return nil, err
	}
	if s.disp == nil {
		return nil, status.Error(codes.FailedPrecondition, msgDispatchDisabled)
	}
	ran, err := s.disp.Run(ctx, t, q)
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrTombstoned):
		// Completed or deleted between the read and the dispatch.
		return nil, errNotFound()
	case err != nil:
		return nil, apierr.Internal("running task", err)
	}
	return withView(ran.Task, view), nil
}
