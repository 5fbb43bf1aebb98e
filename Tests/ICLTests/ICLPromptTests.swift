import Foundation
import ICL
import LanguageModel
import Testing

/// Rendering k-shot prompts from a task's template, and their tokens through a real BPE tokenizer.
@Suite struct ICLPromptTests {
    @Test func rendersTheAuthorsPromptShape() throws {
        let task = try ICLTask(directory: fixtureTask("tiny-sentiment"))
        let prompt = try task.prompt(demonstrations: Array(task.train.prefix(2)), query: task.test[0].text)
        #expect(prompt.context == "The soup was cold and the waiter never came back. It was terrible\n\n"
                + "A warm, funny film with a big heart. It was great\n\n"
                + "Every song on the album is a joy. It was")
        #expect(prompt.candidates == [" terrible", " great"])
        // Zero-shot: the query alone.
        #expect(try task.prompt(demonstrations: [], query: "Fine.").context == "Fine. It was")
        #expect(try task.demonstration(task.train[1]) == "A warm, funny film with a big heart. It was great")
    }

    @Test func suffixEndsDemonstrationsOnly() throws {
        let task = try ICLTask(directory: fixtureTask("tiny-topics"))
        let prompt = try task.prompt(demonstrations: [task.train[0]], query: "Q")
        #expect(prompt.context == "Article: The home side won the cup final on penalties.\nAnswer: Sports.\nArticle: Q\nAnswer:")
        #expect(prompt.candidates == [" World politics", " Sports", " Science and technology"])
    }

    @Test func outOfRangeLabelsAreRefused() throws {
        let task = try ICLTask(directory: fixtureTask("tiny-sentiment"))
        #expect(throws: ICLTaskError.invalidArgument(op: "ICLTask.demonstration", reason: "label 5 is out of range: the task has 2 labels")) {
            try task.prompt(demonstrations: [ICLExample(text: "x", label: 5)], query: "q")
        }
        #expect(throws: ICLTaskError.self) {
            try task.encodedPrompt(demonstrations: [ICLExample(text: "x", label: -1)], query: "q", tokenizer: StubTokenizer())
        }
    }

    @Test func labelTokensThroughTheDemoTokenizer() throws {
        let tokenizer = try demoTokenizer()
        let task = try ICLTask(directory: fixtureTask("tiny-topics"))
        let ids = try task.labelTokens(tokenizer: tokenizer)
        #expect(ids.count == 3)
        for (i, sequence) in ids.enumerated() {
            #expect(!sequence.isEmpty)
            #expect(try tokenizer.decode(sequence, skipSpecialTokens: false) == " " + task.labels[i].words)
            #expect(sequence == tokenizer.encode(" " + task.labels[i].words, addSpecialTokens: false))
        }
        #expect(ids[2].count > 1)  // "Science and technology" is several tokens
    }

    @Test func labelTokensMustBeNonEmptyAndDistinct() throws {
        let task = try ICLTask(directory: fixtureTask("tiny-sentiment"))
        #expect(throws: ICLTaskError.invalidArgument(op: "ICLTask.labelTokens",
                                                     reason: "labels 0 and 1 ('negative', 'positive') tokenize to the same ids [7]")) {
            try task.labelTokens(tokenizer: StubTokenizer(constant: [7]))
        }
        #expect(throws: ICLTaskError.invalidArgument(op: "ICLTask.labelTokens", reason: "label 0 ('negative') tokenizes to no token")) {
            try task.labelTokens(tokenizer: StubTokenizer(constant: []))
        }
    }

    // The encoded prompt's pieces decode to the rendered strings, and its ranges cover exactly the parts.
    @Test func encodedPromptRangesMatchTheText() throws {
        let tokenizer = try demoTokenizer()
        for name in ["tiny-sentiment", "tiny-topics"] {
            let task = try ICLTask(directory: fixtureTask(name))
            let demos = Array(task.train.prefix(3))
            let query = task.test[0].text
            let text = try task.prompt(demonstrations: demos, query: query)
            for addBOS in [false, true] {
                let encoded = try task.encodedPrompt(demonstrations: demos, query: query, tokenizer: tokenizer,
                                                     addSpecialTokens: addBOS)
                let bos = addBOS ? tokenizer.bosTokenID.map { [$0] } ?? [] : []
                #expect(Array(encoded.ids.prefix(bos.count)) == bos)
                #expect(try tokenizer.decode(Array(encoded.ids.dropFirst(bos.count)), skipSpecialTokens: false) == text.context)
                #expect(encoded.candidates == (try task.labelTokens(tokenizer: tokenizer)))
                #expect(encoded.demonstrations.count == demos.count && encoded.demonstrationAnswers.count == demos.count)
                for (i, demo) in demos.enumerated() {
                    let span = encoded.demonstrations[i], answer = encoded.demonstrationAnswers[i]
                    #expect(try tokenizer.decode(Array(encoded.ids[span]), skipSpecialTokens: false) == (try task.demonstration(demo)))
                    #expect(Array(encoded.ids[answer]) == encoded.candidates[demo.label])
                    #expect(span.lowerBound < answer.lowerBound && answer.upperBound <= span.upperBound)
                    if i > 0 { #expect(encoded.demonstrations[i - 1].upperBound < span.lowerBound) }  // a separator between
                }
                #expect(encoded.query.upperBound == encoded.ids.count)
                #expect(try tokenizer.decode(Array(encoded.ids[encoded.query]), skipSpecialTokens: false)
                        == task.template.renderQuery(text: query))
                // Piecewise tokenization equals tokenizing the rendered context at once (byte-level BPE, word boundaries).
                #expect(Array(encoded.ids.dropFirst(bos.count)) == tokenizer.encode(text.context, addSpecialTokens: false))
            }
        }
    }
}
