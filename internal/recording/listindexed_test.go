package recording

import (
	"context"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/journal"
)

// listScan is List reading every recorder entry, as it does with --grep or with more than
// maxIndexed recordings to read messages of.
func listScan(t *testing.T, src journal.Source, o ListOptions) []Summary {
	t.Helper()
	recs := map[string]*builder{}
	q := journal.Query{Since: o.Since, Until: o.Until, Matches: append([]string(nil), RecorderMatches...)}
	if o.Host != "" {
		q.Matches = append(q.Matches, FieldHostname+"="+o.Host)
	}
	if err := collect(context.Background(), src, q, o, recs); err != nil {
		t.Fatal(err)
	}
	return finish(recs, o)
}

// List's index path (recd's closed recordings from their open and close entries only)
// summarizes every recording exactly as reading all entries does, also with a time range
// that cuts recordings, and falls back to reading all entries when there are many
// recordings to read messages of.
func TestListIndexedMatchesScan(t *testing.T) {
	src := fixture(t)
	ctx := context.Background()
	ts := func(d time.Duration) string { return "@" + strconv.FormatInt(t0.Add(d).Unix(), 10) }
	for _, o := range []ListOptions{{}, {User: "alice"}, {Host: "h2"}, {Host: "h1"}, {Status: StatusLive}, {Status: StatusUnverified},
		{Since: ts(90 * time.Minute)}, {Until: ts(90 * time.Minute)}, {Since: ts(time.Hour)}, {Since: ts(time.Hour), Until: ts(3 * time.Hour)},
		// Inside recording A, which has messages at +0 and +1 ms, its close at +2 ms.
		{Since: "@" + strconv.FormatFloat(float64(t0.UnixMicro()+1500)/1e6, 'f', 6, 64)},
		{Until: "@" + strconv.FormatFloat(float64(t0.UnixMicro()+1500)/1e6, 'f', 6, 64)}} {
		recs, ok, err := listIndexed(ctx, src, o)
		if err != nil || !ok {
			t.Fatalf("%+v: listIndexed: %v %v", o, ok, err)
		}
		got, want := finish(recs, o), listScan(t, src, o)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%+v:\nindexed %+v\nscan    %+v", o, got, want)
		}
	}
	old := maxIndexed
	maxIndexed = 1 // the tlog recording and the live one: two to read messages of
	defer func() { maxIndexed = old }()
	if _, ok, err := listIndexed(ctx, src, ListOptions{}); ok || err != nil {
		t.Fatalf("listIndexed with too many recordings to read: ok %v, %v", ok, err)
	}
	got, err := List(ctx, src, ListOptions{})
	if err != nil || !reflect.DeepEqual(got, listScan(t, src, ListOptions{})) {
		t.Fatalf("List after the fallback: %v\n%+v", err, got)
	}
}
