/// A trie over the Unicode scalars of added (and special) tokens, which both tokenizers split out of the
/// text before pre-tokenisation.
///
/// Splitting walks the trie from each position and takes the longest token that starts there, scanning
/// left to right: the leftmost-longest matching of `tokenizers`' Aho–Corasick automaton. The cost is
/// O(text × longest token), independent of how many added tokens there are (Llama-3 has 256).
struct AddedTokenTrie: Sendable {
    private struct Node: Sendable {
        var children: [Unicode.Scalar: Int32] = [:]
        var id: Int32 = -1   // the token ending here, or -1
        var lstrip = false   // the token takes the whitespace before it
        var rstrip = false   // the token takes the whitespace after it
    }

    private var nodes = [Node()]

    /// An empty trie; ``insert(_:id:)`` adds tokens.
    init() {}

    /// A trie of `tokens` (content → id). An empty content is ignored: it would match everywhere.
    init<S: Sequence>(_ tokens: S) where S.Element == (String, Int) {
        for (content, id) in tokens { insert(content, id: id) }
    }

    /// True when the trie holds no token.
    var isEmpty: Bool { nodes[0].children.isEmpty }

    /// Adds `content` with `id`; a repeated content keeps the last id. With `lstrip` / `rstrip` a match
    /// also takes the whitespace (Unicode `White_Space`) next to it, as `tokenizers`' added tokens do.
    mutating func insert(_ content: String, id: Int, lstrip: Bool = false, rstrip: Bool = false) {
        guard !content.isEmpty else { return }
        var node = 0
        for s in content.unicodeScalars {
            if let child = nodes[node].children[s] {
                node = Int(child)
            } else {
                nodes.append(Node())
                nodes[node].children[s] = Int32(nodes.count - 1)
                node = nodes.count - 1
            }
        }
        nodes[node].id = Int32(id)
        nodes[node].lstrip = lstrip
        nodes[node].rstrip = rstrip
    }

    /// The id, length and trie node of the longest token starting at `i` and ending by `end`.
    private func longestMatch(_ scalars: [Unicode.Scalar], at i: Int, end: Int) -> (id: Int, length: Int, node: Int)? {
        var node = 0
        var best: (id: Int, length: Int, node: Int)?
        var j = i
        while j < end, let child = nodes[node].children[scalars[j]] {
            node = Int(child)
            j += 1
            if nodes[node].id >= 0 { best = (Int(nodes[node].id), j - i, node) }
        }
        return best
    }

    /// Calls `body` for each part of `scalars[range]` in order: `(range, id)` for a token, `(range, nil)` for
    /// the (non-empty) text between tokens. The parts tile the range.
    func split(_ scalars: [Unicode.Scalar], in range: Range<Int>, _ body: (Range<Int>, Int?) -> Void) {
        guard !isEmpty else {
            if !range.isEmpty { body(range, nil) }
            return
        }
        var textStart = range.lowerBound
        var i = range.lowerBound
        while i < range.upperBound {
            if let m = longestMatch(scalars, at: i, end: range.upperBound) {
                var start = i, stop = i + m.length
                if nodes[m.node].lstrip {
                    while start > textStart && scalars[start - 1].properties.isWhitespace { start -= 1 }
                }
                if nodes[m.node].rstrip {
                    while stop < range.upperBound && scalars[stop].properties.isWhitespace { stop += 1 }
                }
                if textStart < start { body(textStart..<start, nil) }
                body(start..<stop, m.id)
                i = stop
                textStart = i
            } else {
                i += 1
            }
        }
        if textStart < range.upperBound { body(textStart..<range.upperBound, nil) }
    }
}
