package tree

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"
)

func TestBlobClass(t *testing.T) {
	cases := []struct{ n, class, size int }{
		{1, 1, 16}, {16, 1, 16}, {17, 2, 32}, {108, 7, 112}, {1024, 64, 1024},
		{1025, 65, 1152}, {1152, 65, 1152}, {1153, 66, 1280}, {2048, 72, 2048},
		{2049, 73, 2304}, {65536, 112, 65536},
	}
	for _, tc := range cases {
		class, size := blobClass(tc.n)
		if class != tc.class || size != tc.size {
			t.Errorf("blobClass(%d) = %d, %d; want %d, %d", tc.n, class, size, tc.class, tc.size)
		}
	}
	// Every size fits its class, classes grow with sizes, and the waste
	// stays under a class step (16 bytes, or an eighth of the doubling).
	prevClass, prevSize := 0, 0
	for n := 1; n <= blobSmallMax; n++ {
		class, size := blobClass(n)
		if size < n || class < prevClass || class >= blobClasses || (class == prevClass && size != prevSize) {
			t.Fatalf("blobClass(%d) = %d, %d after %d, %d", n, class, size, prevClass, prevSize)
		}
		if size-n >= max(16, n/8+1) {
			t.Fatalf("blobClass(%d) wastes %d bytes", n, size-n)
		}
		if size%16 != 0 {
			t.Fatalf("blobClass(%d) size %d not 16-aligned", n, size)
		}
		prevClass, prevSize = class, size
	}
}

// TestBlobArena checks the allocator against a map of what each live blob
// must hold, through random allocations and frees of every size range.
func TestBlobArena(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var a blobArena
	type live struct {
		ref  blobRef
		want []byte
	}
	var blobs []live
	sizes := []int{1, 15, 16, 100, 108, 1000, 5000, 70000, blobSmallMax, blobSmallMax + 1}
	for i := range 20000 {
		if len(blobs) > 0 && rng.IntN(3) == 0 {
			k := rng.IntN(len(blobs))
			b := blobs[k]
			if got := a.get(b.ref, len(b.want)); !bytes.Equal(got, b.want) {
				t.Fatalf("step %d: blob %#x changed", i, b.ref)
			}
			a.release(b.ref, len(b.want))
			blobs[k] = blobs[len(blobs)-1]
			blobs = blobs[:len(blobs)-1]
			continue
		}
		n := sizes[rng.IntN(len(sizes))]
		ref, b := a.alloc(n)
		if ref == 0 || len(b) != n {
			t.Fatalf("alloc(%d) = %#x, %d bytes", n, ref, len(b))
		}
		want := []byte(fmt.Sprintf("%08d", i))
		want = bytes.Repeat(want, n/len(want)+1)[:n]
		copy(b, want)
		blobs = append(blobs, live{ref, want})
	}
	var held int64
	for _, b := range blobs {
		if got := a.get(b.ref, len(b.want)); !bytes.Equal(got, b.want) {
			t.Fatalf("blob %#x changed", b.ref)
		}
		if len(b.want) > blobSmallMax {
			held += int64(len(b.want))
		} else {
			_, size := blobClass(len(b.want))
			held += int64(size)
		}
	}
	if held != a.bytes {
		t.Fatalf("arena counts %d bytes, live blobs hold %d", a.bytes, held)
	}
}

// TestNodeSize pins the node's layout: 96 bytes, no padding.
func TestNodeSize(t *testing.T) {
	if got := unsafe.Sizeof(node{}); got != 96 {
		t.Fatalf("node is %d bytes, want 96", got)
	}
}
