package tree

import "math/bits"

// blobRef addresses a blob in a blobArena; 0 is none. A small blob's ref
// is its page (from 1) in the high half and its offset in 16-byte units in
// the low half; a large blob's ref is blobLargeFlag plus its slot.
type blobRef uint32

const (
	blobPageShift = 20
	blobPageBytes = 1 << blobPageShift // 1 MiB
	blobUnitShift = 4                  // small blobs start on 16-byte boundaries
	blobPagesMax  = 1<<15 - 1          // 32 GiB of small blobs
	blobSmallMax  = 64 << 10           // larger blobs get an allocation of their own
	blobLargeFlag = 1 << 31

	// Size classes: multiples of 16 bytes up to 1 KiB (classes 1..64),
	// then eight steps per doubling up to 64 KiB (65..112).
	blobFineMax = 1 << 10
	blobClasses = 64 + 6*8 + 1
)

// blobArena holds the znodes' names and data in 1 MiB pages that hold no
// pointers, so the collector never scans them and a node needs no pointer
// either: a million znodes are a few hundred objects to the collector, not
// a million. Freed blobs go to a free list per size class and are reused
// by the next blob of that class; pages are never given back (a tree that
// shrinks keeps its high-water mark, as a slab allocator does).
//
// A slice from get is valid until the blob is freed: the tree frees a
// node's blob when it deletes the node or replaces its data, so readers
// (which hold the tree's read lock) must copy what they keep past Apply.
type blobArena struct {
	pages     [][]byte
	used      int // bytes used in the last page
	free      [blobClasses][]blobRef
	large     [][]byte
	largeFree []uint32
	bytes     int64 // bytes held by live blobs, size classes rounded up
}

// blobClass returns the size class of an n-byte blob (0 < n <=
// blobSmallMax) and the bytes it occupies.
func blobClass(n int) (class, size int) {
	if n <= blobFineMax {
		class = (n + 15) >> 4
		return class, class << 4
	}
	e := bits.Len(uint(n - 1)) // n is in (2^(e-1), 2^e]
	base := 1 << (e - 1)
	step := base >> 3
	k := (n - base + step - 1) / step
	return 64 + (e-11)*8 + k, base + k*step
}

// alloc returns a new n-byte blob (n > 0) and its bytes, to fill.
func (a *blobArena) alloc(n int) (blobRef, []byte) {
	if n > blobSmallMax {
		b := make([]byte, n)
		a.bytes += int64(n)
		if k := len(a.largeFree); k > 0 {
			slot := a.largeFree[k-1]
			a.largeFree = a.largeFree[:k-1]
			a.large[slot] = b
			return blobLargeFlag | blobRef(slot), b
		}
		if len(a.large) >= blobLargeFlag-1 {
			panic("tree: too many large blobs")
		}
		a.large = append(a.large, b)
		return blobLargeFlag | blobRef(len(a.large)-1), b
	}
	class, size := blobClass(n)
	a.bytes += int64(size)
	var ref blobRef
	if k := len(a.free[class]); k > 0 {
		ref = a.free[class][k-1]
		a.free[class] = a.free[class][:k-1]
	} else {
		if len(a.pages) == 0 || a.used+size > blobPageBytes {
			if len(a.pages) == blobPagesMax {
				panic("tree: blob arena full")
			}
			a.pages = append(a.pages, make([]byte, blobPageBytes))
			a.used = 0
		}
		ref = blobRef(len(a.pages))<<16 | blobRef(a.used>>blobUnitShift)
		a.used += size
	}
	return ref, a.get(ref, n)
}

// get returns the first n bytes of blob ref.
func (a *blobArena) get(ref blobRef, n int) []byte {
	if ref&blobLargeFlag != 0 {
		return a.large[ref&^blobLargeFlag][:n:n]
	}
	page := a.pages[ref>>16-1]
	off := int(ref&0xffff) << blobUnitShift
	return page[off : off+n : off+n]
}

// release frees blob ref, which was allocated for n bytes.
func (a *blobArena) release(ref blobRef, n int) {
	if ref&blobLargeFlag != 0 {
		slot := uint32(ref &^ blobLargeFlag)
		a.large[slot] = nil
		a.largeFree = append(a.largeFree, slot)
		a.bytes -= int64(n)
		return
	}
	class, size := blobClass(n)
	a.bytes -= int64(size)
	a.free[class] = append(a.free[class], ref)
}
