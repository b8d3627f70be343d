
BlogitsJ(Ωf{¡∆?ø¿Â2Ô¿y-@V$j¡±AzQz¡C–¿)Kÿ¿ßÇ;¿