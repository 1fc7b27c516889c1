package config

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one problem in a configuration file. Load and Parse return every
// problem they find, joined with errors.Join; use Errors to get them back.
type Error struct {
	File    string // path of the file
	Line    int    // 1-based line number, 0 if the problem is not on one line
	Section string // section name, if any
	Key     string // key name, if any
	Msg     string // what is wrong
	Hint    string // how to fix it, if known
}

// Error formats the problem as "file:line: [section] key: msg (hint)".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Section != "" {
		fmt.Fprintf(&b, "[%s] ", e.Section)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "%s: ", e.Key)
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		fmt.Fprintf(&b, " (%s)", e.Hint)
	}
	return b.String()
}

// Errors returns every *Error inside err (as joined by Load or Parse), in
// order. It returns nil for a nil error.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var e *Error
		if errors.As(err, &e) {
			out = append(out, e)
		}
	}
	walk(err)
	return out
}

// suggest returns a "did you mean X?" hint when word is close to one of
// candidates, or "" otherwise.
func suggest(word string, candidates []string) string {
	best, bestD := "", -1
	lw := strings.ToLower(strings.TrimSpace(word))
	for _, c := range candidates {
		d := distance(lw, c)
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := len(best) / 3
	if limit < 2 {
		limit = 2
	}
	if bestD >= 0 && bestD <= limit {
		return "did you mean " + best + "?"
	}
	return ""
}

// distance is the Levenshtein edit distance between a and b (bytes).
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
