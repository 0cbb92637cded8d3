import AuthDoctorCLI
AuthDoctorCommand.main()
