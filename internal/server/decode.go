package server

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
)

// grpc-go answers a request it cannot decode (bad wire format, invalid
// UTF-8 in a string) with INTERNAL, whatever the codec returns. Google
// answers INVALID_ARGUMENT, as it does for a REST body it cannot parse. So
// the server's codec does not fail a request: it notes the error against
// the request message, which rejectUndecoded, the first interceptor, turns
// into INVALID_ARGUMENT. Every method is unary, so every request message
// reaches the interceptor and the note is taken.

// requestCodec is gRPC's proto codec with decoding errors deferred.
type requestCodec struct {
	encoding.CodecV2
	failed *sync.Map // request message -> its decoding error
}

func newRequestCodec() requestCodec {
	return requestCodec{CodecV2: encoding.GetCodecV2(grpcproto.Name), failed: new(sync.Map)}
}

func (c requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if err := c.CodecV2.Unmarshal(data, v); err != nil {
		c.failed.Store(v, err)
	}
	return nil
}

// rejectUndecoded fails a call whose request the codec could not decode.
func (c requestCodec) rejectUndecoded(ctx context.Context, req any, _ *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
	if err, ok := c.failed.LoadAndDelete(req); ok {
		return nil, status.Errorf(codes.InvalidArgument, "Invalid proto payload received: %v", err)
	}
	return next(ctx, req)
}
