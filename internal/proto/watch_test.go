package proto

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

func TestLiveRoundTrip(t *testing.T) {
	evs := []LiveEvent{
		{Kind: LiveWindow, Data: WindowData(Window{Cols: 120, Rows: 40})},
		{Kind: LiveSnapshot, Data: []byte("\x1b[H\x1b[2Jprompt$ ")},
		{Kind: LiveOutput, Micros: 1500, Data: []byte("h\xc3\xa9llo\r\n")},
		{Kind: LiveOutput, Micros: 1600, Data: []byte{}},
		{Kind: LiveSkipped, Micros: 1700, Data: CountData(1 << 33)},
	}
	got, err := DecodeLive(EncodeLive(evs))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) {
		t.Fatalf("%d events back, want %d", len(got), len(evs))
	}
	for i := range evs {
		if got[i].Kind != evs[i].Kind || got[i].Micros != evs[i].Micros || !bytes.Equal(got[i].Data, evs[i].Data) {
			t.Errorf("event %d: got %+v, want %+v", i, got[i], evs[i])
		}
	}
	if w := WindowOf(got[0].Data); w != (Window{120, 40}) {
		t.Errorf("window %+v", w)
	}
	if n := CountOf(got[4].Data); n != 1<<33 {
		t.Errorf("skipped %d", n)
	}
}

func TestDecodeLiveRejects(t *testing.T) {
	good := EncodeLive([]LiveEvent{{Kind: LiveOutput, Data: []byte("ab")}})
	badKind := append([]byte(nil), good...)
	badKind[0] = 'Z'
	long := append([]byte(nil), good...)
	long[12] = 9 // announces 9 bytes, 2 follow
	tests := map[string][]byte{
		"short header":  good[:5],
		"unknown kind":  badKind,
		"overlong data": long,
		"window size":   EncodeLive([]LiveEvent{{Kind: LiveWindow, Data: []byte{1, 2, 3}}}),
		"skip size":     EncodeLive([]LiveEvent{{Kind: LiveSkipped, Data: []byte{1}}}),
	}
	for name, p := range tests {
		if _, err := DecodeLive(p); !errors.Is(err, ErrBadLive) {
			t.Errorf("%s: got %v, want ErrBadLive", name, err)
		}
	}
	if evs, err := DecodeLive(nil); err != nil || len(evs) != 0 {
		t.Errorf("empty payload: %v, %v", evs, err)
	}
}

// A watch request is a Request (recd decodes it with unknown fields refused), and an error
// Response decodes as a WatchReply (recd answers a bad request with a Response).
func TestWatchJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, Request{Op: OpWatch, Watch: &WatchRequest{Rec: "abc-1-2"}}); err != nil {
		t.Fatal(err)
	}
	var req Request
	if err := ReadJSON(&buf, &req); err != nil || req.Watch == nil || req.Watch.Rec != "abc-1-2" {
		t.Fatalf("request: %+v, %v", req, err)
	}
	b, _ := json.Marshal(Response{Error: "unknown operation \"watch\""})
	var r WatchReply
	if err := ReadJSON(bytes.NewReader(append([]byte{0, 0, 0, byte(len(b) + 1), TypeJSON}, b...)), &r); err != nil {
		t.Fatal(err)
	}
	if r.OK || r.Error == "" {
		t.Fatalf("reply %+v", r)
	}
}
