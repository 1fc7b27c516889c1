package proto

import (
	"bytes"
	"errors"
	"testing"
)

func TestEventsRoundTrip(t *testing.T) {
	evs := []Event{
		{Seq: 7, Micros: 0, Kind: EventWindow, Data: WindowData(Window{Cols: 100, Rows: 30})},
		{Seq: 8, Micros: 1500, Kind: EventOutput, Data: []byte("h\xc3\xa9llo\r\n")},
		{Seq: 9, Micros: 1501, Kind: EventInput, Data: []byte{}},
		{Seq: 10, Micros: 9, Kind: EventLost, Data: CountData(1 << 40)},
	}
	got, err := DecodeEvents(EncodeEvents(evs))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) {
		t.Fatalf("%d events back, want %d", len(got), len(evs))
	}
	for i := range evs {
		if got[i].Seq != evs[i].Seq || got[i].Micros != evs[i].Micros || got[i].Kind != evs[i].Kind || !bytes.Equal(got[i].Data, evs[i].Data) {
			t.Errorf("event %d: got %+v, want %+v", i, got[i], evs[i])
		}
	}
	if w := WindowOf(got[0].Data); w != (Window{100, 30}) {
		t.Errorf("window %+v", w)
	}
	if n := CountOf(got[3].Data); n != 1<<40 {
		t.Errorf("count %d", n)
	}
}

func TestDecodeEventsRejects(t *testing.T) {
	good := EncodeEvents([]Event{{Seq: 1, Kind: EventOutput, Data: []byte("ab")}})
	two := EncodeEvents([]Event{{Seq: 1, Kind: EventOutput, Data: []byte("a")}, {Seq: 3, Kind: EventOutput, Data: []byte("b")}})
	badKind := append([]byte(nil), good...)
	badKind[16] = 'Z'
	long := append([]byte(nil), good...)
	long[20] = 200
	huge := EncodeEvents([]Event{{Seq: 1, Kind: EventOutput}})
	huge[17], huge[18] = 0x7f, 0xff
	for name, p := range map[string][]byte{
		"short header":    good[:10],
		"truncated data":  good[:len(good)-1],
		"unknown kind":    badKind,
		"length past end": long,
		"huge length":     huge,
		"seq gap":         two,
		"seq zero":        EncodeEvents([]Event{{Seq: 0, Kind: EventOutput}}),
		"window size":     EncodeEvents([]Event{{Seq: 1, Kind: EventWindow, Data: []byte{1, 2}}}),
		"count size":      EncodeEvents([]Event{{Seq: 1, Kind: EventLost, Data: []byte{1}}}),
	} {
		if _, err := DecodeEvents(p); !errors.Is(err, ErrBadEvents) {
			t.Errorf("%s: err = %v, want ErrBadEvents", name, err)
		}
	}
}

func TestAck(t *testing.T) {
	a, err := DecodeAck(EncodeAck(Ack{Next: 42}))
	if err != nil || a.Next != 42 {
		t.Fatalf("%+v %v", a, err)
	}
	if _, err := DecodeAck([]byte{1, 2}); err == nil {
		t.Fatal("short ack accepted")
	}
}

// FuzzDecodeEvents: no input crashes the decoder, and what it accepts re-encodes to the
// same bytes.
func FuzzDecodeEvents(f *testing.F) {
	f.Add(EncodeEvents([]Event{{Seq: 1, Micros: 5, Kind: EventOutput, Data: []byte("x")}, {Seq: 2, Kind: EventWindow, Data: WindowData(Window{80, 24})}}))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 40))
	f.Fuzz(func(t *testing.T, p []byte) {
		evs, err := DecodeEvents(p)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeEvents(evs), p) {
			t.Fatalf("re-encoding changed %x", p)
		}
	})
}
