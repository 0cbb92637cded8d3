import AuthDoctorCLI
import ServeCLI

// `authdoctor serve` (and the link-flow part of `authdoctor demo`) run here: the whole command line,
// with the link server installed (Sources/ServeCLI). `authdoctor` itself does not link it.
ServerCommands.install()
AuthDoctorCommand.run()
