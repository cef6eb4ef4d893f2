package cloudtasks

import (
	"context"
	"errors"
	"regexp"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/proto"

	"github.com/opentasks/opentasks/internal/apierr"
	"github.com/opentasks/opentasks/internal/store"
)

// CMEK settings are stored per location (store.KindCmekConfig) and echoed;
// OpenTasks encrypts nothing with them.

var kmsKeyRe = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`)

// GetCmekConfig returns the location's CMEK config; no key by default.
func (s *Service) GetCmekConfig(ctx context.Context, req *cloudtaskspb.GetCmekConfigRequest) (*cloudtaskspb.CmekConfig, error) {
	name := req.GetName()
	location, err := cmekLocation(name)
	if err != nil {
		return nil, err
	}
	b, err := s.st.GetRecord(ctx, store.KindCmekConfig, location)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &cloudtaskspb.CmekConfig{Name: name}, nil
	case err != nil:
		return nil, apierr.Internal("reading CMEK config", err)
	}
	c := &cloudtaskspb.CmekConfig{}
	if err := proto.Unmarshal(b, c); err != nil {
		return nil, apierr.Internal("decoding CMEK config", err)
	}
	return c, nil
}

// UpdateCmekConfig sets or (with a blank key) clears the location's key.
func (s *Service) UpdateCmekConfig(ctx context.Context, req *cloudtaskspb.UpdateCmekConfigRequest) (*cloudtaskspb.CmekConfig, error) {
	in := req.GetCmekConfig()
	if in == nil {
		return nil, invalid("CmekConfig is required.")
	}
	name := in.GetName()
	location, err := cmekLocation(name)
	if err != nil {
		return nil, err
	}
	setKey := len(req.GetUpdateMask().GetPaths()) == 0
	for _, p := range req.GetUpdateMask().GetPaths() {
		switch p {
		case "kms_key", "kmsKey":
			setKey = true
		case "name":
		default:
			return nil, invalid("Invalid update_mask: unknown field path %q.", p)
		}
	}
	if setKey && in.KmsKey != "" && !kmsKeyRe.MatchString(in.KmsKey) {
		return nil, invalid(`CmekConfig.kmsKey must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/keyRings/<KEY_RING>/cryptoKeys/<KEY>".`)
	}
	out := &cloudtaskspb.CmekConfig{Name: name}
	err = s.st.UpdateRecord(ctx, store.KindCmekConfig, location, func(cur []byte) ([]byte, error) {
		if cur != nil {
			if err := proto.Unmarshal(cur, out); err != nil {
				return nil, apierr.Internal("decoding CMEK config", err)
			}
		}
		if setKey {
			out.KmsKey = in.KmsKey
		}
		if out.KmsKey == "" {
			return nil, nil // no key is the default: keep nothing
		}
		return proto.Marshal(out)
	})
	if err != nil {
		return nil, apierr.Internal("storing CMEK config", err)
	}
	return out, nil
}
