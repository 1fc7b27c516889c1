// Command recdclient is a deliberately misbehaving client of recd's socket, for the
// integration tests: it runs inside a test host as an unprivileged user and tries what an
// attacker would.
//
//	recdclient claim REC     resume someone else's recording REC
//	recdclient open          open a recording of one's own and send one output event
//
// For these two it prints recd's answer as JSON on stdout and exits 0 when recd refused,
// 1 when recd granted, 2 on a transport error. attack.go has the floods, slow-loris,
// malformed and oversized frames, claims of other users' logins, and the benchmark of a
// legitimate pam_recd registration that the hostile-client tests measure under attack.
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/recd-dev/recd/internal/proto"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: recdclient claim REC | open | flood N DUR | slowloris M DUR | malformed N | oversized N | claim-session USER N | status | pam-bench N USER")
		os.Exit(2)
	}
	if _, ok := attacks[os.Args[1]]; ok {
		runAttack(os.Args[1], os.Args[2:])
	}
	c, err := net.DialTimeout("unix", proto.SocketPath, 2*time.Second)
	if err != nil {
		fmt.Fprintln(os.Stderr, "recdclient:", err)
		os.Exit(2)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	open := &proto.RecordOpen{Mode: proto.ModeTTY, Term: "xterm", Shell: "/bin/sh",
		Window: &proto.Window{Cols: 80, Rows: 24}, StartUnixMicro: time.Now().UnixMicro()}
	switch os.Args[1] {
	case "claim":
		if len(os.Args) != 3 {
			fmt.Fprintln(os.Stderr, "usage: recdclient claim REC")
			os.Exit(2)
		}
		open.Resume = &proto.Resume{Rec: os.Args[2], FirstUnacked: 1}
	case "open":
	default:
		fmt.Fprintln(os.Stderr, "recdclient: unknown command", os.Args[1])
		os.Exit(2)
	}
	if err := proto.WriteJSON(c, proto.Request{Op: proto.OpRecordOpen, Record: open}); err != nil {
		fmt.Fprintln(os.Stderr, "recdclient:", err)
		os.Exit(2)
	}
	var resp proto.Response
	if err := proto.ReadJSON(c, &resp); err != nil {
		fmt.Fprintln(os.Stderr, "recdclient:", err)
		os.Exit(2)
	}
	out, _ := json.Marshal(resp)
	fmt.Println(string(out))
	if !resp.OK || resp.Record == nil || resp.Record.Refused != "" {
		os.Exit(0)
	}
	if os.Args[1] == "claim" {
		// Granted a foreign recording: try to write into it, so the test can see the damage.
		ev := proto.Event{Seq: resp.Record.ResumeSeq, Kind: proto.EventOutput, Data: []byte("FORGED-BY-RECDCLIENT\r\n")}
		_ = proto.WriteFrame(c, proto.Frame{Type: proto.TypeEvents, Payload: proto.EncodeEvents([]proto.Event{ev})})
		time.Sleep(500 * time.Millisecond)
	}
	os.Exit(1)
}
