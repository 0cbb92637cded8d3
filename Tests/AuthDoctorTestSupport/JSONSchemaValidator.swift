// A small JSON Schema (draft 2020-12) validator for the keywords schema/report.schema.json uses.
// It parses with EvidenceModel's JSON (no Foundation JSONSerialization), reports every problem with
// a JSON-pointer path into the instance, and refuses schemas that use a keyword it does not
// implement, so an unsupported keyword can never be silently ignored (and thus silently "pass").

import EvidenceModel
import Foundation

public struct JSONSchemaValidator: Sendable {
    /// One reason the instance does not conform.
    public struct Issue: Sendable, Equatable, CustomStringConvertible {
        /// JSON pointer into the instance ("" is the root). For `required` and for properties that
        /// `additionalProperties: false` forbids, the pointer names the missing or extra member itself.
        public var path: String
        /// The schema keyword that failed (`type`, `required`, `enum`, ...).
        public var keyword: String
        public var message: String
        /// Where in the schema the keyword is ("#/$defs/finding/properties/failure/enum").
        public var schemaPath: String

        public var description: String { "\(path.isEmpty ? "(root)" : path): \(message) [\(schemaPath)]" }
    }

    /// The schema itself is not something this validator can apply faithfully.
    public struct SchemaError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Keywords that are only annotations: they never make an instance invalid.
    static let annotations: Set<String> = ["$schema", "$id", "$comment", "title", "description", "examples", "default", "deprecated", "$defs"]
    /// Keywords this validator implements.
    static let assertions: Set<String> = [
        "$ref", "type", "enum", "const", "required", "properties", "additionalProperties", "items", "minItems", "maxItems",
        "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern",
        "oneOf", "anyOf", "allOf", "not",
    ]
    static let typeNames: Set<String> = ["null", "boolean", "object", "array", "string", "number", "integer"]

    public let schema: JSONValue

    public init(schema: JSONValue) throws {
        self.schema = schema
        try Self.check(schema, at: "#", root: schema)
    }

    public init(schemaText: String) throws {
        try self.init(schema: JSON.parse(schemaText))
    }

    public init(contentsOfFile path: String) throws {
        try self.init(schemaText: String(contentsOfFile: path, encoding: .utf8))
    }

    /// schema/report.schema.json of the checkout.
    public static func reportSchema() throws -> JSONSchemaValidator {
        try JSONSchemaValidator(contentsOfFile: TestPaths.schemaDirectory + "/report.schema.json")
    }

    /// Every problem of the instance (empty when it conforms).
    public func validate(_ instance: JSONValue) -> [Issue] {
        var issues: [Issue] = []
        validate(instance, against: schema, path: "", schemaPath: "#", depth: 0, into: &issues)
        return issues
    }

    /// Parses `text` with EvidenceModel's JSON parser, then validates it.
    public func validate(jsonText text: String) throws -> [Issue] {
        try validate(JSON.parse(text))
    }

    // MARK: - Checking the schema

    static func check(_ schema: JSONValue, at place: String, root: JSONValue) throws {
        switch schema {
        case .bool: return
        case let .object(members):
            for (keyword, value) in members {
                let here = place + "/" + escape(keyword)
                if annotations.contains(keyword) {
                    if keyword == "$defs" {
                        guard case let .object(defs) = value else { throw SchemaError(message: "\(here): $defs must be an object") }
                        for (name, sub) in defs { try check(sub, at: here + "/" + escape(name), root: root) }
                    }
                    continue
                }
                guard assertions.contains(keyword) else {
                    throw SchemaError(message: "\(here): keyword '\(keyword)' is not supported by this validator")
                }
                switch keyword {
                case "$ref":
                    guard let ref = value.stringValue else { throw SchemaError(message: "\(here): $ref must be a string") }
                    guard resolve(ref, in: root) != nil else { throw SchemaError(message: "\(here): cannot resolve $ref '\(ref)'") }
                case "type":
                    let names: [JSONValue] = value.arrayValue ?? [value]
                    for name in names {
                        guard let s = name.stringValue, typeNames.contains(s) else {
                            throw SchemaError(message: "\(here): unknown type \(JSONWriter.serialize(name))")
                        }
                    }
                case "enum":
                    guard value.arrayValue?.isEmpty == false else { throw SchemaError(message: "\(here): enum must be a non-empty array") }
                case "required":
                    guard let names = value.arrayValue, names.allSatisfy({ $0.stringValue != nil }) else {
                        throw SchemaError(message: "\(here): required must be an array of strings")
                    }
                case "properties":
                    guard case let .object(properties) = value else { throw SchemaError(message: "\(here): properties must be an object") }
                    for (name, sub) in properties { try check(sub, at: here + "/" + escape(name), root: root) }
                case "additionalProperties", "items", "not":
                    try check(value, at: here, root: root)
                case "oneOf", "anyOf", "allOf":
                    guard let branches = value.arrayValue, !branches.isEmpty else {
                        throw SchemaError(message: "\(here): \(keyword) must be a non-empty array")
                    }
                    for (i, sub) in branches.enumerated() { try check(sub, at: here + "/\(i)", root: root) }
                case "minItems", "maxItems", "minLength", "maxLength":
                    guard let n = value.intValue, n >= 0 else { throw SchemaError(message: "\(here): \(keyword) must be a non-negative integer") }
                case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
                    guard number(value) != nil else { throw SchemaError(message: "\(here): \(keyword) must be a number") }
                case "pattern":
                    guard let p = value.stringValue, (try? NSRegularExpression(pattern: p)) != nil else {
                        throw SchemaError(message: "\(here): pattern must be a valid regular expression")
                    }
                default:
                    break // const: any value
                }
            }
        default:
            throw SchemaError(message: "\(place): a schema must be an object or a boolean")
        }
    }

    /// Resolves "#" and "#/a/b" pointers within the document.
    static func resolve(_ ref: String, in root: JSONValue) -> JSONValue? {
        guard ref.hasPrefix("#") else { return nil }
        let pointer = ref.dropFirst()
        if pointer.isEmpty { return root }
        guard pointer.hasPrefix("/") else { return nil }
        var node = root
        for raw in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let token = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            switch node {
            case .object:
                guard let next = node[token] else { return nil }
                node = next
            case let .array(items):
                guard let i = Int(token), items.indices.contains(i) else { return nil }
                node = items[i]
            default:
                return nil
            }
        }
        return node
    }

    /// JSON-pointer escaping of one reference token.
    public static func escape(_ token: String) -> String {
        token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    // MARK: - Validating

    func validate(_ value: JSONValue, against schema: JSONValue, path: String, schemaPath: String, depth: Int, into issues: inout [Issue]) {
        func fail(_ keyword: String, _ message: String, at p: String? = nil) {
            issues.append(Issue(path: p ?? path, keyword: keyword, message: message, schemaPath: schemaPath + "/" + keyword))
        }
        if depth > 100 {
            fail("$ref", "schema recursion deeper than 100 levels")
            return
        }
        switch schema {
        case .bool(true): return
        case .bool(false):
            issues.append(Issue(path: path, keyword: "false", message: "no value is allowed here", schemaPath: schemaPath))
            return
        case .object: break
        default: return // rejected by check()
        }
        guard case let .object(keywords) = schema else { return }

        for (keyword, argument) in keywords {
            switch keyword {
            case "$ref":
                let ref = argument.stringValue ?? "#"
                if let target = Self.resolve(ref, in: self.schema) {
                    validate(value, against: target, path: path, schemaPath: ref, depth: depth + 1, into: &issues)
                } else {
                    fail(keyword, "cannot resolve $ref '\(ref)'")
                }

            case "type":
                let names = (argument.arrayValue ?? [argument]).compactMap(\.stringValue)
                if !names.contains(where: { Self.matches(value, type: $0) }) {
                    let expected = names.count == 1 ? names[0] : names.joined(separator: " or ")
                    fail(keyword, "expected \(expected), found \(Self.typeName(of: value))")
                }

            case "enum":
                let options = argument.arrayValue ?? []
                if !options.contains(where: { Self.equal($0, value) }) {
                    fail(keyword, "\(Self.short(value)) is not one of \(options.map(Self.short).joined(separator: ", "))")
                }

            case "const":
                if !Self.equal(argument, value) {
                    fail(keyword, "expected \(Self.short(argument)), found \(Self.short(value))")
                }

            case "required":
                guard case .object = value else { continue }
                for name in (argument.arrayValue ?? []).compactMap(\.stringValue) where value[name] == nil {
                    fail(keyword, "required property '\(name)' is missing", at: path + "/" + Self.escape(name))
                }

            case "properties":
                guard case let .object(members) = value, case let .object(properties) = argument else { continue }
                for (name, member) in members {
                    guard let sub = properties.first(where: { $0.0 == name })?.1 else { continue }
                    validate(member, against: sub, path: path + "/" + Self.escape(name),
                             schemaPath: schemaPath + "/properties/" + Self.escape(name), depth: depth, into: &issues)
                }

            case "additionalProperties":
                guard case let .object(members) = value else { continue }
                let declared = Set((schema["properties"]?.objectValue ?? []).map(\.0))
                for (name, member) in members where !declared.contains(name) {
                    if case .bool(false) = argument {
                        fail(keyword, "property '\(name)' is not allowed", at: path + "/" + Self.escape(name))
                    } else {
                        validate(member, against: argument, path: path + "/" + Self.escape(name),
                                 schemaPath: schemaPath + "/additionalProperties", depth: depth, into: &issues)
                    }
                }

            case "items":
                guard case let .array(elements) = value else { continue }
                for (i, element) in elements.enumerated() {
                    validate(element, against: argument, path: path + "/\(i)", schemaPath: schemaPath + "/items", depth: depth, into: &issues)
                }

            case "minItems", "maxItems":
                guard case let .array(elements) = value, let limit = argument.intValue else { continue }
                if keyword == "minItems" && elements.count < limit { fail(keyword, "expected at least \(limit) item(s), found \(elements.count)") }
                if keyword == "maxItems" && elements.count > limit { fail(keyword, "expected at most \(limit) item(s), found \(elements.count)") }

            case "minLength", "maxLength":
                guard case let .string(s) = value, let limit = argument.intValue else { continue }
                let length = s.unicodeScalars.count
                if keyword == "minLength" && length < limit { fail(keyword, "expected at least \(limit) character(s), found \(length)") }
                if keyword == "maxLength" && length > limit { fail(keyword, "expected at most \(limit) character(s), found \(length)") }

            case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
                guard let n = Self.number(value), let limit = Self.number(argument) else { continue }
                let ok: Bool
                switch keyword {
                case "minimum": ok = n >= limit
                case "maximum": ok = n <= limit
                case "exclusiveMinimum": ok = n > limit
                default: ok = n < limit
                }
                if !ok { fail(keyword, "\(Self.short(value)) violates \(keyword) \(Self.short(argument))") }

            case "pattern":
                guard case let .string(s) = value, let source = argument.stringValue else { continue }
                guard let regex = try? NSRegularExpression(pattern: source) else { fail(keyword, "bad pattern"); continue }
                if regex.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) == nil {
                    fail(keyword, "\(Self.short(value)) does not match /\(source)/")
                }

            case "oneOf", "anyOf", "allOf":
                let branches = argument.arrayValue ?? []
                var results: [[Issue]] = []
                for (i, branch) in branches.enumerated() {
                    var branchIssues: [Issue] = []
                    validate(value, against: branch, path: path, schemaPath: schemaPath + "/\(keyword)/\(i)", depth: depth, into: &branchIssues)
                    results.append(branchIssues)
                }
                let passing = results.filter(\.isEmpty).count
                if keyword == "allOf" {
                    for r in results { issues += r }
                } else if passing == 0 {
                    fail(keyword, "matches none of the \(branches.count) alternatives")
                    // The alternative that came closest explains the failure best.
                    if let best = results.min(by: { $0.count < $1.count }) { issues += best }
                } else if keyword == "oneOf" && passing > 1 {
                    fail(keyword, "matches \(passing) alternatives, expected exactly one")
                }

            case "not":
                var inner: [Issue] = []
                validate(value, against: argument, path: path, schemaPath: schemaPath + "/not", depth: depth, into: &inner)
                if inner.isEmpty { fail(keyword, "must not match the 'not' schema") }

            default:
                continue // annotations (and $defs)
            }
        }
    }

    // MARK: - Values

    static func number(_ v: JSONValue) -> Double? {
        switch v {
        case let .int(i): return Double(i)
        case let .double(d): return d
        default: return nil
        }
    }

    static func matches(_ v: JSONValue, type: String) -> Bool {
        switch (type, v) {
        case ("null", .null), ("boolean", .bool), ("object", .object), ("array", .array), ("string", .string): return true
        case ("number", .int), ("number", .double): return true
        case ("integer", .int): return true
        case let ("integer", .double(d)): return d.isFinite && d.rounded() == d
        default: return false
        }
    }

    static func typeName(of v: JSONValue) -> String {
        switch v {
        case .null: return "null"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// JSON equality: numbers by value (1 == 1.0), objects regardless of member order.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = number(a), let y = number(b) { return x == y }
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case let (.object(x), .object(y)):
            guard x.count == y.count else { return false }
            return x.allSatisfy { member in b[member.0].map { equal(member.1, $0) } ?? false }
        default: return false
        }
    }

    static func short(_ v: JSONValue) -> String {
        let s = JSONWriter.serialize(v)
        return s.count > 80 ? String(s.prefix(77)) + "..." : s
    }
}
