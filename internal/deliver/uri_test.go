package deliver

import (
	"net/url"
	"testing"

	"cloud.google.com/go/cloudtasks/apiv2/cloudtaskspb"
	"google.golang.org/protobuf/proto"
)

// TestOverrideURI covers the uri_override cases a live target cannot
// show: cleared and kept ports, IPv6 hosts, escaped paths.
func TestOverrideURI(t *testing.T) {
	ifNotExists := cloudtaskspb.UriOverride_IF_NOT_EXISTS
	for _, c := range []struct {
		url  string
		o    *cloudtaskspb.UriOverride
		want string
	}{
		{"http://h:8080/p", &cloudtaskspb.UriOverride{Port: proto.Int64(0)}, "http://h/p"},
		{"http://h:8080/p", &cloudtaskspb.UriOverride{Port: proto.Int64(9), UriOverrideEnforceMode: ifNotExists}, "http://h:8080/p"},
		{"http://h/p", &cloudtaskspb.UriOverride{Port: proto.Int64(9), UriOverrideEnforceMode: ifNotExists}, "http://h:9/p"},
		{"http://h:8080/p", &cloudtaskspb.UriOverride{Host: proto.String("::1")}, "http://[::1]:8080/p"},
		{"http://[::1]:8080/p", &cloudtaskspb.UriOverride{Port: proto.Int64(0)}, "http://[::1]/p"},
		{"http://h/a%2Fb?x=1", &cloudtaskspb.UriOverride{PathOverride: &cloudtaskspb.PathOverride{Path: "/c d"}}, "http://h/c%20d?x=1"},
		{"http://h/", &cloudtaskspb.UriOverride{PathOverride: &cloudtaskspb.PathOverride{Path: "/n"}, UriOverrideEnforceMode: ifNotExists}, "http://h/n"},
		{"https://h/p", &cloudtaskspb.UriOverride{Scheme: cloudtaskspb.UriOverride_SCHEME_UNSPECIFIED.Enum()}, "https://h/p"},
		{"http://h/p", &cloudtaskspb.UriOverride{Scheme: cloudtaskspb.UriOverride_SCHEME_UNSPECIFIED.Enum()}, "https://h/p"},
	} {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatal(err)
		}
		overrideURI(u, c.o)
		if u.String() != c.want {
			t.Errorf("%s with %v = %s, want %s", c.url, c.o, u, c.want)
		}
	}
}
