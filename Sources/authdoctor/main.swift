import AuthDoctorCLI

AuthDoctorCommand.run()
