package recorder

import (
	"testing"
	"time"

	"github.com/recd-dev/recd/internal/proto"
)

// While recd is connected and acknowledging, a burst larger than the buffer holds the
// output relay back instead of losing output; when recd stalls, output is dropped after
// stallLimit (and counted), so a stopped recd never freezes the login.
func TestFullBufferWaitsForConnectedRecd(t *testing.T) {
	chunk := make([]byte, 1000)
	cases := []struct {
		name      string
		acks      bool
		wantLost  bool
		minWait   time.Duration
		connected bool
	}{
		{name: "recd acknowledging", connected: true, acks: true, wantLost: false},
		{name: "recd stalled", connected: true, acks: false, wantLost: true, minWait: stallLimit},
		{name: "recd away", connected: false, wantLost: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := newQueue(4*(1024+eventCost), false, time.Now()) // 1000-byte chunks take 1024 (size class)
			q.setConnected(c.connected)
			for i := 0; i < 4; i++ {
				q.addData(proto.EventOutput, chunk, true)
				time.Sleep(2 * time.Millisecond) // separate events, no coalescing
			}
			done := make(chan time.Duration)
			start := time.Now()
			go func() {
				q.addData(proto.EventOutput, chunk, true) // the buffer is full
				done <- time.Since(start)
			}()
			if c.acks {
				time.Sleep(300 * time.Millisecond)
				select {
				case <-done:
					t.Fatal("the relay did not wait for recd to acknowledge")
				default:
				}
				q.ack(3) // recd took events 1 and 2
			}
			waited := <-done
			if waited < c.minWait {
				t.Errorf("waited %v, want at least %v", waited, c.minWait)
			}
			if lost := q.dropped(); (lost > 0) != c.wantLost {
				t.Errorf("dropped %d bytes, want loss=%v", lost, c.wantLost)
			}
		})
	}
}
