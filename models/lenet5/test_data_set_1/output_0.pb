
BlogitsJ(¨V∫æc„1¡XÓA•ó√¿#Gï?`o<¡'q∆ø–ÉC¡lﬂê¿¢x#¡