package daemon

import "time"

// bucket is tlog's rate limit (limit.rate, limit.burst; rl_json_writer.c): a token bucket
// counted in message bytes, refilled at rate bytes per second up to burst.
type bucket struct {
	rate, burst float64
	tokens      float64
	at          time.Time
}

func newBucket(rate, burst int64, now time.Time) *bucket {
	return &bucket{rate: float64(rate), burst: float64(burst), tokens: float64(burst), at: now}
}

func (b *bucket) refill(now time.Time) {
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.tokens += dt * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
	}
	b.at = now
}

// allow takes n bytes if the bucket holds them (limit_action = drop).
func (b *bucket) allow(n int, now time.Time) bool {
	b.refill(now)
	if float64(n) > b.tokens {
		return false
	}
	b.tokens -= float64(n)
	return true
}

// wait takes n bytes and returns how long to wait before they may be written
// (limit_action = delay): the bucket goes into debt, which later messages wait out.
func (b *bucket) wait(n int, now time.Time) time.Duration {
	b.refill(now)
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}
