procedure Main is
   type Block is array (1 .. 16 * 1024 * 1024) of Character;
   type Block_Access is access Block;
   B : Block_Access;
begin
   loop
      B := new Block'(others => 'x');
   end loop;
end Main;
