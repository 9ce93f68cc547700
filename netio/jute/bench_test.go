package jute

import (
	"bytes"
	"testing"
)

// BenchmarkEncodeGetDataResponse1KB encodes a getData reply with 1 KB of
// data into a reused Writer, as the server does for every read.
func BenchmarkEncodeGetDataResponse1KB(b *testing.B) {
	rsp := GetDataResponse{Data: bytes.Repeat([]byte{0xa5}, 1024), Stat: sampleStat}
	hdr := ReplyHeader{Xid: 1, Zxid: 0x100000001}
	var w Writer
	b.ReportAllocs()
	for b.Loop() {
		w.Reset()
		at := w.BeginFrame()
		hdr.Encode(&w)
		rsp.Encode(&w)
		w.EndFrame(at)
	}
	b.SetBytes(int64(len(w.B)))
}

// BenchmarkDecodeRequestHeaderGetData decodes a request header and a
// getData body from one frame with a reused Reader; the only allocation
// is the path string.
func BenchmarkDecodeRequestHeaderGetData(b *testing.B) {
	var w Writer
	(&RequestHeader{Xid: 1, Type: OpGetData}).Encode(&w)
	(&PathWatchRequest{Path: "/app/config/node-0000000042", Watch: true}).Encode(&w)
	frame := w.B
	var r Reader
	var hdr RequestHeader
	var req PathWatchRequest
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(frame)
		hdr.Decode(&r)
		req.Decode(&r)
		if r.Err() != nil {
			b.Fatal(r.Err())
		}
	}
}
