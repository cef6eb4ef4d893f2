package cloudtasks

import (
	"context"
	"slices"

	"google.golang.org/genproto/googleapis/cloud/location"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/opentasks/opentasks/internal/pagetoken"
	"github.com/opentasks/opentasks/internal/protofilter"
)

var _ location.LocationsServer = (*Service)(nil)

func (s *Service) location(project, id string) *location.Location {
	return &location.Location{
		Name:        "projects/" + project + "/locations/" + id,
		LocationId:  id,
		DisplayName: id,
		Labels:      map[string]string{"cloud.googleapis.com/region": id},
	}
}

// ListLocations lists the configured locations, in ID order.
func (s *Service) ListLocations(ctx context.Context, req *location.ListLocationsRequest) (*location.ListLocationsResponse, error) {
	if err := routedProject(req.GetName()); err != nil {
		return nil, err
	}
	project, ok := parseProject(req.GetName())
	if !ok {
		return nil, invalid(msgProjectNameFormat)
	}
	size, err := pageSize(req.GetPageSize(), maxLocationPage)
	if err != nil {
		return nil, err
	}
	match, err := protofilter.Compile((&location.Location{}).ProtoReflect().Descriptor(), req.GetFilter())
	if err != nil {
		return nil, err
	}
	now := s.now()
	scope := pagetoken.Scope("ListLocations", req.GetName(), req.GetFilter())
	after, err := pagetoken.Decode(req.GetPageToken(), scope, now)
	if err != nil {
		return nil, err
	}
	ids := slices.Sorted(slices.Values(s.locations))
	resp := &location.ListLocationsResponse{}
	for _, id := range ids {
		if id <= after && after != "" {
			continue
		}
		loc := s.location(project, id)
		if !match(loc.ProtoReflect()) {
			continue
		}
		if len(resp.Locations) == size {
			resp.NextPageToken = pagetoken.Encode(scope, resp.Locations[size-1].LocationId, now)
			break
		}
		resp.Locations = append(resp.Locations, loc)
	}
	return resp, nil
}

// GetLocation returns one configured location.
func (s *Service) GetLocation(ctx context.Context, req *location.GetLocationRequest) (*location.Location, error) {
	if err := routedProject(req.GetName()); err != nil {
		return nil, err
	}
	project, id, ok := parseLocation(req.GetName())
	if !ok {
		return nil, invalid(msgLocationNameFormat)
	}
	if !slices.Contains(s.locations, id) {
		return nil, status.Errorf(codes.NotFound, "Location %s is not found or access is unauthorized.", id)
	}
	return s.location(project, id), nil
}
