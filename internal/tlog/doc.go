// Package tlog reads and writes tlog's JSON message format (version 2.3), the format in
// which tlog-rec-session stores terminal sessions and which tlog-play and
// cockpit-session-recording play. shared/tlog-format.md §1 is the specification.
//
// # Writing
//
// An Encoder turns recd's event stream (output, input, window sizes, with sequence
// numbers and recorder times) into messages byte-compatible with tlog's json_sink.c: the
// same key order and escaping, the same timing records (delays truncated to ms, runs
// counted in characters, one U+FFFD plus the raw bytes per invalid UTF-8 sequence, the
// window restated at the head of every message) and the same payload accounting, so a
// message ends exactly where tlog would end it. recd passes every event of a recording
// in order (Output, Input, Window, or Skip for an event without a record), calls Flush
// when its latency timer fires and Cut when the recording ends, and writes each
// returned Message to the journal.
//
// Each message also says where it stands in the event stream (Message.Next) and what a
// restarted recd needs to continue the recording (Message.Window, OriginMicros,
// LastMicros): Encoder.Resume takes them back, and the recording goes on with neither
// gap nor duplicate, its ids consecutive and its packet times never going backwards.
//
// # Deviations from tlog
//
// tlog keeps input and output in separate runs within one delay slot and writes all the
// input records before the output records when the slot ends. The Encoder writes records
// strictly in the order of the events: a run of one direction is closed when the other
// direction has data, so it writes "<1>1<1" where tlog would write "<2>1" (both players
// accept either). This keeps every message a prefix of the stream, so that one stream
// position says where the next message starts. Output-only recordings (tlog's default)
// are unaffected.
//
// For the same reason an incomplete UTF-8 sequence pending at the end of the stream is
// written out as binary (as tlog does at the end of a recording) when anything other
// than more bytes of the same direction follows it: data of the other direction, a
// window event, or a skipped event. tlog would keep it pending across a window record
// or input and complete it later. So pending bytes are always the tail of the consumed
// stream, and Message.Next, which then points at their first byte, has no consumed
// event after it but empty ones.
package tlog
