// Command fakerecorder plays a recorder (recd-session) against recd's socket, for the
// integration tests: it opens a recording of its own, sends a window event and the given
// text as output, waits until recd acknowledged everything, closes the recording and
// prints a JSON summary (the grant and the answer to the close) on stdout.
//
//	fakerecorder TEXT
//
// Exit status 0 when the recording was granted, acknowledged and closed, 1 otherwise.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/recd-dev/recd/internal/proto"
)

type summary struct {
	Grant *proto.RecordGrant `json:"grant"`
	Acked uint64             `json:"acked"`
	Close *proto.Response    `json:"close"`
	Error string             `json:"error,omitempty"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: fakerecorder TEXT")
		os.Exit(2)
	}
	var s summary
	err := run(os.Args[1], &s)
	if err != nil {
		s.Error = err.Error()
	}
	out, _ := json.Marshal(s)
	fmt.Println(string(out))
	if err != nil {
		os.Exit(1)
	}
}

func run(text string, s *summary) error {
	c, err := net.DialTimeout("unix", proto.SocketPath, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	open := &proto.RecordOpen{Mode: proto.ModeTTY, Term: "xterm-256color", Shell: "/bin/sh",
		Window: &proto.Window{Cols: 80, Rows: 24}, StartUnixMicro: time.Now().UnixMicro()}
	if err := proto.WriteJSON(c, proto.Request{Op: proto.OpRecordOpen, Record: open}); err != nil {
		return err
	}
	var resp proto.Response
	if err := proto.ReadJSON(c, &resp); err != nil {
		return err
	}
	s.Grant = resp.Record
	if !resp.OK || resp.Record == nil || resp.Record.Rec == "" {
		return fmt.Errorf("not granted: %s", resp.Error)
	}
	evs := []proto.Event{
		{Seq: 1, Micros: 0, Kind: proto.EventWindow, Data: proto.WindowData(proto.Window{Cols: 80, Rows: 24})},
		{Seq: 2, Micros: 1000, Kind: proto.EventOutput, Data: []byte(text + "\r\n")},
		{Seq: 3, Micros: 2000, Kind: proto.EventOutput, Data: []byte("bad:\xff\xfe end \xe2\x82\xac\r\n")},
	}
	if err := proto.WriteFrame(c, proto.Frame{Type: proto.TypeEvents, Payload: proto.EncodeEvents(evs)}); err != nil {
		return err
	}
	if err := proto.WriteJSON(c, proto.Request{Op: proto.OpRecordClose, Close: &proto.RecordClose{
		LastSeq: 3, Reason: "exit", BytesOut: uint64(len(evs[1].Data) + len(evs[2].Data))}}); err != nil {
		return err
	}
	for {
		f, err := proto.ReadFrame(c)
		if err != nil {
			return err
		}
		switch f.Type {
		case proto.TypeAck:
			a, err := proto.DecodeAck(f.Payload)
			if err != nil {
				return err
			}
			s.Acked = a.Next
		case proto.TypeJSON:
			var r proto.Response
			if err := json.Unmarshal(f.Payload, &r); err != nil {
				return err
			}
			s.Close = &r
			if !r.OK {
				return fmt.Errorf("close: %s", r.Error)
			}
			return nil
		}
	}
}
