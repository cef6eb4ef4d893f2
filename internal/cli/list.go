package cli

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// listFlags are gcloud's list flags, applied in gcloud's order: the
// server filters, then --sort-by, then --limit.
type listFlags struct {
	limit, pageSize int
	filter          string
	sortBy          []string
	uri             bool
}

// registerList adds --limit, --page-size, --sort-by and --uri, and
// --filter where the API filters; the values live in the Call's flag set
// and listOptions reads them back.
func registerList(withFilter bool) func(fs *flag.FlagSet) {
	return func(fs *flag.FlagSet) {
		fs.Int("limit", 0, "most items to list (0: all)")
		fs.Int("page-size", 100, "items fetched per request")
		fs.String("sort-by", "", "comma-separated resource `FIELDS` to sort by (e.g. name, ~createTime, rateLimits.maxDispatchesPerSecond); ~ reverses")
		fs.Bool("uri", false, "print each resource's URI instead")
		if withFilter {
			fs.String("filter", "", "server-side filter (Cloud Tasks' filter syntax, e.g. state: PAUSED)")
		}
	}
}

func listOptions(fs *flag.FlagSet) (listFlags, error) {
	get := func(name string) string { return fs.Lookup(name).Value.String() }
	lf := listFlags{uri: get("uri") == "true"}
	var err error
	if lf.limit, err = strconv.Atoi(get("limit")); err != nil || lf.limit < 0 {
		return lf, Usagef("argument --limit: want a whole number, 0 or more")
	}
	if lf.pageSize, err = strconv.Atoi(get("page-size")); err != nil || lf.pageSize < 1 {
		return lf, Usagef("argument --page-size: want a whole number, 1 or more")
	}
	if f := fs.Lookup("filter"); f != nil {
		lf.filter = f.Value.String()
	}
	if s := get("sort-by"); s != "" {
		lf.sortBy = strings.Split(s, ",")
	}
	return lf, nil
}

// listAll drains next, sorts, limits, and prints the list or its URIs.
func listAll[M proto.Message](c *Call, lf listFlags, next func() (M, error), cols []Column[M]) error {
	limit := lf.limit
	if len(lf.sortBy) > 0 {
		limit = 0 // sort everything, then limit
	}
	items, err := collect(next, limit)
	if err != nil {
		return err
	}
	if len(lf.sortBy) > 0 {
		if err := sortBy(items, lf.sortBy); err != nil {
			return err
		}
		if lf.limit > 0 && len(items) > lf.limit {
			items = items[:lf.limit]
		}
	}
	if lf.uri {
		for _, m := range items {
			fmt.Fprintln(c.Stdout, resourceURI(c.Endpoint, m))
		}
		return nil
	}
	return PrintList(c, items, cols)
}

// collect drains an iterator's next function up to limit items (0: all).
func collect[T any](next func() (T, error), limit int) ([]T, error) {
	var out []T
	for limit <= 0 || len(out) < limit {
		v, err := next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// resourceURI is a resource's REST URI: ENDPOINT/VERSION/NAME, the
// version being the last component of the message's package
// (google.cloud.tasks.v2.Queue: v2).
func resourceURI(endpoint string, m proto.Message) string {
	desc := m.ProtoReflect().Descriptor()
	pkg := string(desc.ParentFile().Package())
	version := pkg[strings.LastIndex(pkg, ".")+1:]
	name := m.ProtoReflect().Get(desc.Fields().ByName("name")).String()
	return strings.TrimSuffix(endpoint, "/") + "/" + version + "/" + name
}

// sortBy sorts resources by fields of their JSON form, as gcloud's
// --sort-by does: dotted camelCase paths, "~" for descending, numbers as
// numbers, a missing field first.
func sortBy[M proto.Message](items []M, keys []string) error {
	type row struct {
		item M
		vals []any
	}
	rows := make([]row, len(items))
	for i, m := range items {
		b, err := protojson.Marshal(m)
		if err != nil {
			return err
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			return err
		}
		rows[i] = row{item: m}
		for _, k := range keys {
			rows[i].vals = append(rows[i].vals, lookup(doc, strings.TrimPrefix(k, "~")))
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		for i, k := range keys {
			c := compareValues(a.vals[i], b.vals[i])
			if strings.HasPrefix(k, "~") {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	for i, r := range rows {
		items[i] = r.item
	}
	return nil
}

func lookup(doc map[string]any, path string) any {
	var v any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// compareValues orders nil first, then numbers, then everything else by
// its text.
func compareValues(a, b any) int {
	switch {
	case a == nil || b == nil:
		return cmp.Compare(boolInt(a != nil), boolInt(b != nil))
	}
	fa, aNum := a.(float64)
	fb, bNum := b.(float64)
	if aNum && bNum {
		return cmp.Compare(fa, fb)
	}
	return cmp.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
