/// Applies byte-pair merges to a word's symbols, lowest rank first and, among equal ranks, leftmost
/// first: the algorithm of the `tokenizers` library (which `transformers` uses), in O(n log n).
///
/// A heap holds every adjacent pair that has a merge. Popping the best pair merges it in place (the right
/// symbol is unlinked) and pushes the two pairs the new symbol forms with its neighbours; entries made stale
/// by an earlier merge are recognised and skipped. With merges learnt by BPE training this gives the same
/// result as GPT-2's loop (merge every occurrence of the best pair, repeat), without its quadratic cost
/// on long pieces such as a paragraph of CJK text.
func applyMerges(_ symbols: [Int32], _ merges: [UInt64: BPETokenizer.Merge]) -> [Int32] {
    let n = symbols.count
    guard n > 1 else { return symbols }
    @inline(__always) func merge(_ a: Int32, _ b: Int32) -> BPETokenizer.Merge? {
        merges[UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))]
    }
    var symbol = symbols
    var next = (0..<n).map { Int32($0 + 1) }
    next[n - 1] = -1
    var previous = (0..<n).map { Int32($0 - 1) }
    var alive = [Bool](repeating: true, count: n)
    var heap = MergeHeap()
    for i in 0..<(n - 1) {
        if let m = merge(symbol[i], symbol[i + 1]) { heap.push(MergeHeap.Entry(rank: m.rank, position: Int32(i), result: m.result)) }
    }
    while let top = heap.pop() {
        let p = Int(top.position)
        guard alive[p], next[p] >= 0 else { continue }
        let right = Int(next[p])
        // Stale unless the pair here still makes the same token (the check `tokenizers` makes).
        guard let m = merge(symbol[p], symbol[right]), m.result == top.result else { continue }
        symbol[p] = top.result
        alive[right] = false
        next[p] = next[right]
        if next[p] >= 0 { previous[Int(next[p])] = Int32(p) }
        if previous[p] >= 0, let m = merge(symbol[Int(previous[p])], symbol[p]) {
            heap.push(MergeHeap.Entry(rank: m.rank, position: previous[p], result: m.result))
        }
        if next[p] >= 0, let m = merge(symbol[p], symbol[Int(next[p])]) {
            heap.push(MergeHeap.Entry(rank: m.rank, position: Int32(p), result: m.result))
        }
    }
    var out: [Int32] = []
    var i: Int32 = 0  // the first symbol is never unlinked: merges remove the right one
    while i >= 0 {
        out.append(symbol[Int(i)])
        i = next[Int(i)]
    }
    return out
}

/// A binary min-heap of candidate merges ordered by (rank, position).
struct MergeHeap {
    struct Entry {
        var rank: Int32
        var position: Int32
        var result: Int32

        @inline(__always) func precedes(_ other: Entry) -> Bool {
            rank != other.rank ? rank < other.rank : position < other.position
        }
    }

    private var entries: [Entry] = []

    mutating func push(_ e: Entry) {
        entries.append(e)
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].precedes(entries[parent]) else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let last = entries.popLast() else { return nil }
        guard !entries.isEmpty else { return last }
        let top = entries[0]
        entries[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var best = parent
            if left < entries.count && entries[left].precedes(entries[best]) { best = left }
            if right < entries.count && entries[right].precedes(entries[best]) { best = right }
            if best == parent { return top }
            entries.swapAt(parent, best)
            parent = best
        }
    }
}

/// The merge table of `merges` (in rank order) over `vocabulary`: (left id << 32 | right id) → rank and
/// result. Both tokenizers build it here. Every token a merge uses or makes must be in the vocabulary,
/// so encoding never meets an unknown token; a repeated pair takes its last rank, as in `transformers`
/// and `tokenizers`.
func buildMergeTable(_ merges: [(String, String)], vocabulary: [String: Int],
                     fail: (String) -> ModelError) throws -> [UInt64: BPETokenizer.Merge] {
    var table: [UInt64: BPETokenizer.Merge] = [:]
    table.reserveCapacity(merges.count)
    for (rank, (left, right)) in merges.enumerated() {
        guard let a = vocabulary[left], let b = vocabulary[right] else {
            throw fail("merge \(rank + 1) (\(quoted(left)) \(quoted(right))) uses a token that is not in the vocabulary")
        }
        guard let merged = vocabulary[left + right] else {
            throw fail("merge \(rank + 1) makes \(quoted(left + right)), which is not in the vocabulary")
        }
        table[UInt64(a) << 32 | UInt64(b)] = BPETokenizer.Merge(rank: Int32(rank), result: Int32(merged))
    }
    return table
}
