package cli

import "fmt"

// The status line of `recctl play` and `recctl watch` on a terminal: the bottom row is
// kept out of the scrolling region, so that the recording plays above it, and redrawn in
// reverse video without moving the cursor the recording left.

// scrollRegion returns the sequence that limits scrolling to rows 1..rows-1; "" when the
// terminal is too small for a status line.
func scrollRegion(rows int) string {
	if rows < 3 {
		return ""
	}
	return fmt.Sprintf("\x1b[1;%dr", rows-1)
}

// statusLine draws text on the bottom row (of rows) in reverse video, saving and
// restoring the cursor; "" when the terminal is too small for a status line.
func statusLine(rows int, text string) string {
	if rows < 3 {
		return ""
	}
	return fmt.Sprintf("\x1b7\x1b[%d;1H\x1b[0;7m\x1b[2K%s\x1b[0m\x1b8", rows, text)
}
