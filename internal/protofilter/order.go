package protofilter

import (
	"cmp"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/opentasks/opentasks/internal/protopath"
)

// Order is a compiled AIP-132 order_by: a comparison of two messages.
type Order func(a, b protoreflect.Message) int

// CompileOrder parses an order_by ("field", "field desc", comma
// separated; fields in snake_case or camelCase) against md. allowed, when
// not nil, lists the snake_case paths that may be named. An empty text
// compares every message equal.
func CompileOrder(md protoreflect.MessageDescriptor, text string, allowed []string) (Order, error) {
	type key struct {
		fds  []protoreflect.FieldDescriptor
		desc bool
	}
	var keys []key
	for part := range strings.SplitSeq(text, ",") {
		words := strings.Fields(part)
		if len(words) == 0 {
			if strings.TrimSpace(text) == "" {
				break
			}
			return nil, errOrder("empty field in %q", text)
		}
		if len(words) > 2 || (len(words) == 2 && words[1] != "desc" && words[1] != "asc") {
			return nil, errOrder("%q is not \"field\" or \"field desc\"", strings.TrimSpace(part))
		}
		fds, ok := protopath.Resolve(md, words[0])
		if !ok || !orderable(fds[len(fds)-1]) {
			return nil, errOrder("cannot order by %q", words[0])
		}
		if allowed != nil && !slices.Contains(allowed, protopath.Name(fds)) {
			return nil, errOrder("cannot order by %q", words[0])
		}
		keys = append(keys, key{fds, len(words) == 2 && words[1] == "desc"})
	}
	return func(a, b protoreflect.Message) int {
		for _, k := range keys {
			fd := k.fds[len(k.fds)-1]
			c := compareValues(fd, leaf(a, k.fds).Get(fd), leaf(b, k.fds).Get(fd))
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	}, nil
}

func errOrder(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, "Invalid order_by: "+format+".", args...)
}

func orderable(fd protoreflect.FieldDescriptor) bool {
	if fd.IsList() || fd.IsMap() {
		return false
	}
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		n := fd.Message().FullName()
		return n == "google.protobuf.Timestamp" || n == "google.protobuf.Duration"
	}
	return fd.Kind() != protoreflect.BytesKind
}

// compareValues compares two values of an orderable field.
func compareValues(fd protoreflect.FieldDescriptor, a, b protoreflect.Value) int {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return strings.Compare(a.String(), b.String())
	case protoreflect.EnumKind:
		return cmp.Compare(a.Enum(), b.Enum())
	case protoreflect.BoolKind:
		return cmp.Compare(b2i(a.Bool()), b2i(b.Bool()))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return cmp.Compare(a.Uint(), b.Uint())
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		return cmp.Compare(a.Float(), b.Float())
	case protoreflect.MessageKind:
		// Timestamp and Duration alike: seconds, then nanos.
		am, bm := a.Message(), b.Message()
		f := am.Descriptor().Fields()
		s, n := f.ByName("seconds"), f.ByName("nanos")
		return cmp.Or(cmp.Compare(am.Get(s).Int(), bm.Get(s).Int()), cmp.Compare(am.Get(n).Int(), bm.Get(n).Int()))
	}
	return cmp.Compare(a.Int(), b.Int())
}
