
BlogitsJ(n‰|?<ölA€LhÀ—tŠ¿šg?ÀúÇQÁúðÀ€KKÁs“ÏÀÅÅSÁ