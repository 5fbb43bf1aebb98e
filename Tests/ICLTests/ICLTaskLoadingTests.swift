import Foundation
import ICL
import Testing

/// Loading the committed fixture tasks (Tests/ICLTests/Fixtures), and the template's parts.
@Suite struct ICLTaskLoadingTests {
    @Test func loadsTheSentimentFixture() throws {
        let task = try ICLTask(directory: fixtureTask("tiny-sentiment"))
        #expect(task.name == "tiny-sentiment")
        #expect(task.labels == [ICLLabel(name: "negative", words: "terrible"), ICLLabel(name: "positive", words: "great")])
        #expect(task.file.separator == "\n\n")
        #expect(task.train.count == 4 && task.validation.count == 2 && task.test.count == 3)
        #expect(task.train[0] == ICLExample(text: "The soup was cold and the waiter never came back.", label: 0))
        #expect(task.test[2].text == "Café au lait, naïve charm — a delight.")  // \u escapes and raw UTF-8
        #expect(task.examples(.validation) == task.validation)
        #expect(task.template == (try ICLTemplate("{text} It was {answer}")))
        #expect(task.template.prefix == "" && task.template.middle == " It was" && task.template.answerLead == " "
                && task.template.suffix == "")
    }

    // tiny-topics: keys in any order, no description, a one-line separator, multi-word labels, a suffix after
    // the answer, a split without a final newline (validation) and one with CRLF line ends (test).
    @Test func loadsTheTopicsFixture() throws {
        let task = try ICLTask(directory: fixtureTask("tiny-topics"))
        #expect(task.file.description == "" && task.file.separator == "\n")
        #expect(task.labels.map(\.words) == ["World politics", "Sports", "Science and technology"])
        #expect(task.train[0] == ICLExample(text: "The home side won the cup final on penalties.", label: 1))
        #expect(task.validation == [ICLExample(text: "The striker signed a three-year contract.", label: 1)])
        #expect(task.test.map(\.label) == [2, 0])
        #expect(task.template.prefix == "Article: " && task.template.middle == "\nAnswer:" && task.template.suffix == ".")
    }

    @Test func templateParts() throws {
        let t = try ICLTemplate("Review: {text}\nSentiment:\t {answer}!")
        #expect(t.prefix == "Review: " && t.middle == "\nSentiment:" && t.answerLead == "\t " && t.suffix == "!")
        #expect(t.source == "Review: {text}\nSentiment:\t {answer}!")
        #expect(t.render(text: "x", answer: "good") == "Review: x\nSentiment:\t good!")
        #expect(t.renderQuery(text: "x") == "Review: x\nSentiment:")
        let glued = try ICLTemplate("{text}{answer}")
        #expect(glued.middle == "" && glued.answerLead == "")
    }

    @Test func badTemplatesNameTheKey() {
        let cases: [(String, String)] = [
            ("It was {answer}", "found {answer}"),
            ("{text} It was", "found {text}"),
            ("{answer} {text}", "found {answer}, {text}"),
            ("{text} {text} {answer}", "found {text}, {text}, {answer}"),
            ("{text} {label} {answer}", "a stray '{'"),
            ("{text} } {answer}", "a stray '}'"),
            ("no placeholders", "found no placeholder"),
        ]
        for (template, reason) in cases {
            #expect(throws: ICLTaskError.self) { try ICLTemplate(template, file: "t.json") }
            do { _ = try ICLTemplate(template, file: "t.json") } catch let e as ICLTaskError {
                guard case let .invalidTask(file, key, message) = e else { Issue.record("\(e)"); continue }
                #expect(file == "t.json" && key == "template")
                #expect(message.contains(reason), "\(template): \(message)")
            } catch { Issue.record("\(error)") }
        }
    }
}
