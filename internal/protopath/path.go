// Package protopath resolves the dotted field paths of FieldMasks and list
// filters against protobuf descriptors, and copies fields by path.
package protopath

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Resolve turns a dotted field path (snake_case as gRPC sends it, or
// camelCase as REST users write it) into field descriptors of md. Paths may
// not step through lists or maps.
func Resolve(md protoreflect.MessageDescriptor, path string) ([]protoreflect.FieldDescriptor, bool) {
	if path == "" {
		return nil, false
	}
	var fds []protoreflect.FieldDescriptor
	for seg := range strings.SplitSeq(path, ".") {
		if md == nil {
			return nil, false
		}
		fd := md.Fields().ByName(protoreflect.Name(seg))
		if fd == nil {
			fd = md.Fields().ByJSONName(seg)
		}
		if fd == nil {
			return nil, false
		}
		fds = append(fds, fd)
		md = nil
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
			md = fd.Message()
		}
	}
	return fds, true
}

// Name names fds in snake_case, for comparing against fixed lists.
func Name(fds []protoreflect.FieldDescriptor) string {
	names := make([]string, len(fds))
	for i, fd := range fds {
		names[i] = string(fd.Name())
	}
	return strings.Join(names, ".")
}

// Copy copies the field at fds from src to dst: set when src has it,
// cleared otherwise. dst's intermediate messages are created as needed;
// src is cloned so dst never aliases it.
func Copy(dst, src proto.Message, fds []protoreflect.FieldDescriptor) {
	d := dst.ProtoReflect()
	s := proto.Clone(src).ProtoReflect()
	for i, fd := range fds {
		if i == len(fds)-1 {
			if s != nil && s.Has(fd) {
				d.Set(fd, s.Get(fd))
			} else {
				d.Clear(fd)
			}
			return
		}
		if s != nil {
			if s.Has(fd) {
				s = s.Get(fd).Message()
			} else {
				s = nil
			}
		}
		d = d.Mutable(fd).Message()
	}
}
