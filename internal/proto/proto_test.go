package proto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	for _, payload := range [][]byte{nil, []byte("{}"), bytes.Repeat([]byte("x"), MaxFrame-1)} {
		var buf bytes.Buffer
		if err := WriteFrame(&buf, Frame{Type: TypeJSON, Payload: payload}); err != nil {
			t.Fatalf("write %d bytes: %v", len(payload), err)
		}
		f, err := ReadFrame(&buf)
		if err != nil {
			t.Fatalf("read %d bytes: %v", len(payload), err)
		}
		if f.Type != TypeJSON || !bytes.Equal(f.Payload, payload) && len(payload) > 0 {
			t.Fatalf("round trip of %d bytes changed the frame", len(payload))
		}
	}
}

func TestReadFrameErrors(t *testing.T) {
	huge := make([]byte, 4)
	binary.BigEndian.PutUint32(huge, MaxFrame+1)
	tests := []struct {
		name string
		in   []byte
		want error
		msg  string
	}{
		{"clean EOF", nil, io.EOF, ""},
		{"EOF in header", []byte{0, 0}, io.ErrUnexpectedEOF, ""},
		{"zero length", []byte{0, 0, 0, 0}, nil, "empty frame"},
		{"too large", huge, ErrFrameTooLarge, ""},
		{"EOF in body", []byte{0, 0, 0, 5, 'J', '{'}, io.ErrUnexpectedEOF, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFrame(bytes.NewReader(tc.in))
			if err == nil {
				t.Fatal("no error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want it to mention %q", err, tc.msg)
			}
		})
	}
}

func TestReadJSON(t *testing.T) {
	tests := []struct {
		name    string
		frame   Frame
		wantErr string
		wantOp  string
	}{
		{"ok", Frame{TypeJSON, []byte(`{"op":"status"}`)}, "", "status"},
		{"unknown field", Frame{TypeJSON, []byte(`{"op":"status","uid":0}`)}, "unknown field", ""},
		{"trailing", Frame{TypeJSON, []byte(`{"op":"a"}{"op":"b"}`)}, "trailing", ""},
		{"wrong type", Frame{'X', []byte(`{}`)}, "unexpected frame type", ""},
		{"not json", Frame{TypeJSON, []byte(`op=status`)}, "decoding", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteFrame(&buf, tc.frame); err != nil {
				t.Fatal(err)
			}
			var req Request
			err := ReadJSON(&buf, &req)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || req.Op != tc.wantOp {
				t.Fatalf("got %+v, %v", req, err)
			}
		})
	}
}

// FuzzReadRequest feeds arbitrary bytes, as a hostile client on the socket would, to the
// decoder: it must never panic, never allocate past MaxFrame, and a decoded request must
// re-encode to a frame that decodes the same.
func FuzzReadRequest(f *testing.F) {
	var seed bytes.Buffer
	_ = WriteJSON(&seed, Request{Op: "reload"})
	f.Add(seed.Bytes())
	f.Add(frame(`{"op":"session-open","user":"alice","service":"sshd","tty":"/dev/pts/1","rhost":"127.0.0.1","pid":123,"audit_session":4294967295}`))
	f.Add(frame(`{"op":"session-close","user":"a\"\\\u0001\ufffd","tty":"","pid":-1,"audit_session":0}`))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 'J'})
	f.Add([]byte{0, 0, 0, 3, 'J', '{', '}'})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for i := 0; i < 4; i++ {
			var req Request
			if err := ReadJSON(r, &req); err != nil {
				return
			}
			var buf bytes.Buffer
			if err := WriteJSON(&buf, req); err != nil {
				t.Fatalf("re-encoding %+v: %v", req, err)
			}
			var again Request
			if err := ReadJSON(&buf, &again); err != nil || again != req {
				t.Fatalf("round trip: %+v -> %+v, %v", req, again, err)
			}
		}
	})
}

func frame(payload string) []byte {
	var buf bytes.Buffer
	_ = WriteFrame(&buf, Frame{Type: TypeJSON, Payload: []byte(payload)})
	return buf.Bytes()
}

// The frame pam_recd sends (C-escaped strings included) decodes into a Request; fields
// keep being checked for typos and ranges.
func TestReadSessionRequest(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    Request
		wantErr string
	}{
		{"open", `{"op":"session-open","user":"alice","service":"sshd","tty":"/dev/pts/1","rhost":"127.0.0.1","pid":123,"audit_session":4}`,
			Request{Op: OpSessionOpen, User: "alice", Service: "sshd", TTY: "/dev/pts/1", RHost: "127.0.0.1", PID: 123, AuditSession: 4}, ""},
		{"escapes", `{"op":"session-close","user":"a\"b\\c\u0001\ufffd\u00e9","tty":"","rhost":"","pid":1,"audit_session":4294967295}`,
			Request{Op: OpSessionClose, User: "a\"b\\c\x01\uFFFDé", PID: 1, AuditSession: AuditSessionUnset}, ""},
		{"audit session out of range", `{"op":"session-open","audit_session":4294967296}`, Request{}, "audit_session"},
		{"typo", `{"op":"session-open","usr":"alice"}`, Request{}, "unknown field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var req Request
			err := ReadJSON(bytes.NewReader(frame(tc.payload)), &req)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || req != tc.want {
				t.Fatalf("got %+v, %v; want %+v", req, err, tc.want)
			}
		})
	}
}
