package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"connectrpc.com/vanguard"
	"connectrpc.com/vanguard/vanguardgrpc"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// mixinRules are the HTTP rules of the Locations and Operations mixins as
// cloudtasks_v2.yaml declares them for this API; the mixins' own
// descriptors do not carry them (spec 1.2).
var mixinRules = []*annotations.HttpRule{
	{Selector: "google.cloud.location.Locations.GetLocation", Pattern: &annotations.HttpRule_Get{Get: "/v2/{name=projects/*/locations/*}"}},
	{Selector: "google.cloud.location.Locations.ListLocations", Pattern: &annotations.HttpRule_Get{Get: "/v2/{name=projects/*}/locations"}},
	{Selector: "google.longrunning.Operations.GetOperation", Pattern: &annotations.HttpRule_Get{Get: "/v2/{name=projects/*/locations/*/operations/*}"}},
}

// systemParams are Google's standard query parameters (discovery
// "parameters"); they select output options and never reach the request
// message.
var systemParams = []string{
	"$alt", "alt", "$.xgafv", "prettyPrint", "fields", "key", "access_token",
	"oauth_token", "quotaUser", "callback", "uploadType", "upload_protocol",
}

// maskParams are the query parameters that carry a FieldMask.
var maskParams = []string{"updateMask", "update_mask"}

// camelPaths turns the snake_case segments of a FieldMask's paths
// ("rate_limits.max_dispatches_per_second") into the camelCase of its
// JSON form, which Google accepts too and the transcoder requires.
func camelPaths(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '_' && i+1 < len(v) && 'a' <= v[i+1] && v[i+1] <= 'z' {
			b.WriteByte(v[i+1] - 'a' + 'A')
			i++
			continue
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// rest serves Google's REST surface: the transcoder does the mapping, rest
// does what Google's front end does around it (see doc.go).
type rest struct {
	api   API
	log   *slog.Logger // for the calls it makes to api itself
	names http.Handler // transcoder answering enums by name (the default)
	ints  http.Handler // transcoder answering enums as numbers
}

func newREST(gs *grpc.Server, api API, rules []*annotations.HttpRule, logger *slog.Logger) (*rest, error) {
	bodies := bodyFields(gs, rules)
	names, err := newTranscoder(gs, rules, bodies, false)
	if err != nil {
		return nil, err
	}
	ints, err := newTranscoder(gs, rules, bodies, true)
	if err != nil {
		return nil, err
	}
	return &rest{api: api, log: logger, names: names, ints: ints}, nil
}

func newTranscoder(gs *grpc.Server, rules []*annotations.HttpRule, bodies map[protoreflect.FullName]string, enumNumbers bool) (*vanguard.Transcoder, error) {
	t, err := vanguardgrpc.NewTranscoder(gs,
		vanguard.WithRules(rules...),
		vanguard.WithCodec(func(res vanguard.TypeResolver) vanguard.Codec {
			return bodyCodec{bodyFields: bodies, JSONCodec: vanguard.JSONCodec{
				// Google omits zero values and rejects unknown fields.
				MarshalOptions:   protojson.MarshalOptions{Resolver: res, UseEnumNumbers: enumNumbers},
				UnmarshalOptions: protojson.UnmarshalOptions{Resolver: res},
			}}
		}),
		vanguard.WithDefaultServiceOptions(vanguard.WithMaxMessageBufferBytes(maxMessageBytes)),
	)
	if err != nil {
		return nil, fmt.Errorf("building REST transcoder: %w", err)
	}
	return t, nil
}

func (s *rest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMessageBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, status.Newf(codes.InvalidArgument, "Request payload size exceeds the limit: %d bytes.", maxMessageBytes))
			return
		}
		writeError(w, status.Newf(codes.InvalidArgument, "Cannot read request body: %v", err))
		return
	}
	query, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, status.Newf(codes.InvalidArgument, "Invalid query string: %v", err))
		return
	}
	for k := range query {
		// vanguard v0.4.0 resolves "page_token." to the field and a nil
		// one after it, then panics on its own goroutine (the process
		// dies): a path with an empty segment names no field.
		if strings.HasSuffix(k, ".") {
			writeError(w, withViolation(unboundParam(k), ""))
			return
		}
	}
	enumNumbers := wantsEnumNumbers(query)
	for _, p := range systemParams {
		query.Del(p)
	}
	for _, p := range maskParams {
		for i, v := range query[p] {
			query[p][i] = camelPaths(v)
		}
	}

	if queue, taskID, ok := bufferTarget(r); ok {
		s.buffer(w, r, queue, taskID, body, enumNumbers)
		return
	}

	firebase, isFirebase := firebaseQueue(r)
	if isFirebase {
		var st *status.Status
		if body, st = s.firebaseBody(r, firebase, body); st != nil {
			writeError(w, st)
			return
		}
	}

	// The transcoder sees a plain JSON REST call: no system parameters, one
	// JSON content type (it refuses "application/json; charset=UTF-8"), and
	// none of the headers that would make it take the call for Connect.
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = query.Encode()
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	r2.Header.Del("Connect-Protocol-Version")
	r2.Header.Del("X-Server-Timeout")
	r2.Header.Del("Content-Type")
	if len(body) > 0 {
		r2.Header.Set("Content-Type", "application/json")
	}
	t := s.names
	if enumNumbers {
		t = s.ints
	}
	reached := new(atomic.Bool)
	r2 = r2.WithContext(context.WithValue(r2.Context(), reachedKey{}, reached))
	out := w
	var rec *recorder
	if isFirebase {
		rec = newRecorder()
		out = rec
	}
	ew := &errorWriter{ResponseWriter: out, r: r, reached: reached}
	t.ServeHTTP(ew, r2)
	ew.finish()
	if isFirebase {
		firebaseAnswer(w, rec)
	}
}

// wantsEnumNumbers reports whether the caller asked for
// "$alt=json;enum-encoding=int", as the Go REST client always does.
func wantsEnumNumbers(q url.Values) bool {
	for _, v := range append(q["$alt"], q["alt"]...) {
		for _, part := range strings.Split(v, ";") {
			if strings.TrimSpace(part) == "enum-encoding=int" {
				return true
			}
		}
	}
	return false
}

// reachedKey marks a REST call's context with the flag markReached sets,
// so that errors raised before the service are told from the service's.
type reachedKey struct{}

// markReached records that a transcoded call got as far as the service.
func markReached(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if reached, ok := ctx.Value(reachedKey{}).(*atomic.Bool); ok {
		reached.Store(true)
	}
	return next(ctx, req)
}
