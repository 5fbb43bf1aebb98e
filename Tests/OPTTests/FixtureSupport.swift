import Foundation

/// The committed fixtures (Tests/OPTTests/Fixtures, written by Scripts/make_fixtures.py).
enum Fixtures {
    static let root: URL = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!

    static func url(_ path: String) -> URL { root.appendingPathComponent(path) }
}
