package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"connectrpc.com/vanguard"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Google's front end names where in a REST body an unknown field sits, in
// proto field names from the request message down: `Unknown name "x" at
// 'queue.rate_limits': Cannot find field.`, with that path as the
// BadRequest field violation's field; at the top of a body:"*" request
// there is no path and no field (observed on other Google APIs, e.g.
// "at 'request.tools[0].function_declarations[63]...'" where "request" is
// the rule's body field, and "Unknown name \"thinking\": Cannot find
// field." at the top).

// atMarker joins the path to the decoding error, for requestError.
const atMarker = "; in the body at '"

// bodyCodec is the transcoder's JSON codec, telling where in the body an
// unknown field is when the body does not decode.
type bodyCodec struct {
	vanguard.JSONCodec
	// bodyFields maps the message type of a rule's body field to the
	// field's name ("queue" for Queue): the root of the path.
	bodyFields map[protoreflect.FullName]string
}

func (c bodyCodec) Unmarshal(b []byte, msg proto.Message) error {
	err := c.JSONCodec.Unmarshal(b, msg)
	if err == nil || !strings.Contains(err.Error(), "unknown field") {
		return err
	}
	md := msg.ProtoReflect().Descriptor()
	path, found := unknownFieldPath(json.NewDecoder(bytes.NewReader(b)), md, c.bodyFields[md.FullName()])
	if !found || path == "" {
		return err
	}
	return fmt.Errorf("%w%s%s'", err, atMarker, path)
}

// bodyFields lists the body fields of the HTTP rules of gs's services and
// of the extra rules by their message type.
func bodyFields(gs *grpc.Server, extra []*annotations.HttpRule) map[protoreflect.FullName]string {
	out := map[protoreflect.FullName]string{}
	add := func(m protoreflect.MethodDescriptor, r *annotations.HttpRule) {
		if f := m.Input().Fields().ByName(protoreflect.Name(r.GetBody())); f != nil && f.Message() != nil {
			out[f.Message().FullName()] = string(f.Name())
		}
	}
	for _, r := range extra {
		if m, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(r.GetSelector())); err == nil {
			if m, ok := m.(protoreflect.MethodDescriptor); ok {
				add(m, r)
			}
		}
	}
	for name := range gs.GetServiceInfo() {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			continue
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			continue
		}
		for i := 0; i < sd.Methods().Len(); i++ {
			m := sd.Methods().Get(i)
			rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
			for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
				add(m, r)
			}
		}
	}
	return out
}

// unknownFieldPath reads the JSON object dec holds as a message of type md
// at path, and returns the path of the object with the first field name md
// does not know. Maps and scalars are not looked into: they have no field
// names.
func unknownFieldPath(dec *json.Decoder, md protoreflect.MessageDescriptor, path string) (string, bool) {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := tok.(string)
		fd := md.Fields().ByJSONName(key)
		if fd == nil {
			fd = md.Fields().ByTextName(key)
		}
		if fd == nil {
			return path, true
		}
		sub := string(fd.Name())
		if path != "" {
			sub = path + "." + sub
		}
		if p, found, err := unknownInValue(dec, fd, sub); err != nil || found {
			return p, found
		}
	}
	return "", false
}

// unknownInValue reads the value of field fd, looking into messages.
func unknownInValue(dec *json.Decoder, fd protoreflect.FieldDescriptor, path string) (string, bool, error) {
	walks := fd.Message() != nil && !fd.IsMap() && !strings.HasPrefix(string(fd.Message().FullName()), "google.protobuf.")
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return "", false, err
	}
	if !walks || bytes.Equal(raw, []byte("null")) {
		return "", false, nil
	}
	if !fd.IsList() {
		p, found := unknownFieldPath(json.NewDecoder(bytes.NewReader(raw)), fd.Message(), path)
		return p, found, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return "", false, errors.New("not a list")
	}
	for i, e := range elems {
		if p, found := unknownFieldPath(json.NewDecoder(bytes.NewReader(e)), fd.Message(), path+"["+strconv.Itoa(i)+"]"); found {
			return p, true, nil
		}
	}
	return "", false, nil
}
