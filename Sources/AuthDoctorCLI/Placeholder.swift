import ArgumentParser
public struct AuthDoctorCommand: ParsableCommand {
    public init() {}
    public func run() throws { print("authdoctor") }
}
